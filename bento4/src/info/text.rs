//! `mp4info --format text`: a readable summary (our own layout).

use std::fmt::Write;

use super::{fourcc, hex, layout, names, to_ms, track_stats, Options, SampleBytes};
use crate::error::Mp4Error;
use crate::media::{Codec, Movie, TrackKind};
use crate::mp4::EntryDetails;

pub fn render(
    movie: &Movie,
    details: &[EntryDetails],
    options: &Options,
    sample_bytes: &mut SampleBytes<'_>,
) -> Result<String, Mp4Error> {
    let mut out = String::new();
    let file = &movie.file;
    let brands: Vec<String> = file.compatible_brands.iter().map(fourcc).collect();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "File:");
    let _ = writeln!(out, "  major brand:      {}", fourcc(&file.major_brand));
    let _ = writeln!(out, "  minor version:    {}", file.minor_version);
    let _ = writeln!(out, "  compatible brand: {}", brands.join(", "));
    let _ = writeln!(
        out,
        "  fast start:       {}",
        if file.fast_start { "yes" } else { "no" }
    );
    if options.verbose {
        let _ = writeln!(out, "  file size:        {}", file.file_size);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Movie:");
    let _ = writeln!(
        out,
        "  duration:   {} ms",
        to_ms(movie.duration, movie.time_scale)
    );
    let _ = writeln!(out, "  time scale: {}", movie.time_scale);
    let _ = writeln!(
        out,
        "  fragments:  {}",
        if movie.fragmented { "yes" } else { "no" }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Found {} Tracks", movie.tracks.len());
    for (index, track) in movie.tracks.iter().enumerate() {
        let detail = details.get(index).cloned().unwrap_or_default();
        let stats = track_stats(track);
        let _ = writeln!(out, "Track {}:", track.id);
        let _ = writeln!(
            out,
            "  flags:        {} {}",
            track.flags,
            names::track_flag_names(track.flags).join(" ")
        );
        let _ = writeln!(out, "  id:           {}", track.id);
        let _ = writeln!(out, "  type:         {}", names::track_type(&track.kind));
        let _ = writeln!(
            out,
            "  duration:     {} ms",
            to_ms(track.movie_duration, movie.time_scale)
        );
        let _ = writeln!(out, "  language:     {}", track.language);
        let _ = writeln!(out, "  media:");
        let _ = writeln!(out, "    sample count: {}", stats.sample_count);
        let _ = writeln!(out, "    timescale:    {}", track.timescale);
        let _ = writeln!(
            out,
            "    duration:     {} (media timescale units, {} ms from samples)",
            track.duration,
            to_ms(stats.sample_duration, track.timescale)
        );
        let _ = writeln!(out, "    bitrate:      {:.3} kbps", stats.bitrate_kbps);
        if track.kind == TrackKind::Video {
            let _ = writeln!(
                out,
                "  display size: {}x{}",
                track.display_width, track.display_height
            );
            let _ = writeln!(out, "  frame rate:   {:.3}", stats.frame_rate);
        }
        if options.verbose {
            let _ = writeln!(out, "  sync samples: {}", stats.sync_count);
            let _ = writeln!(
                out,
                "  edit:         empty {} / media start {}",
                track.edit.empty_duration, track.edit.media_start
            );
        }
        let _ = writeln!(out, "  Sample Description:");
        let _ = writeln!(
            out,
            "    coding:       {} ({})",
            fourcc(&detail.fourcc),
            names::coding_name(&track.codec)
        );
        if let Some(codecs) = super::names::described_codecs(&track.codec) {
            let _ = writeln!(out, "    codecs:       {codecs}");
        }
        codec_lines(&mut out, &track.codec);
        if options.show_samples {
            let _ = writeln!(out, "  Samples:");
            for (number, sample) in track.samples.iter().enumerate() {
                let _ = write!(
                    out,
                    "    [{:06}] size={:6} offset={:10} dts={:10} cts={:10} duration={:5}{}",
                    number + 1,
                    sample.size,
                    sample.offset,
                    sample.dts,
                    i64::try_from(sample.dts)
                        .unwrap_or(i64::MAX)
                        .saturating_add(i64::from(sample.cts_offset)),
                    sample.duration,
                    if sample.sync { " [S]" } else { "" }
                );
                if options.show_sample_data {
                    let _ = write!(out, " data={}", hex(&sample_bytes(&sample)?));
                }
                let _ = writeln!(out);
            }
        }
    }
    if options.show_layout {
        let _ = writeln!(out);
        let _ = writeln!(out, "Layout:");
        for (track, offset, samples, size) in layout(movie) {
            let _ = writeln!(
                out,
                "  offset={offset:10} track={track} samples={samples:4} size={size}"
            );
        }
    }
    Ok(out)
}

fn codec_lines(out: &mut String, codec: &Codec) {
    match codec {
        Codec::Avc(avc) => {
            let _ = writeln!(
                out,
                "    AVC profile:  {} ({}), level {}, compat {:#x}",
                avc.profile,
                names::avc_profile(avc.profile),
                avc.level,
                avc.profile_compat
            );
            let _ = writeln!(out, "    NALU length:  {}", avc.nalu_length_size);
            let _ = writeln!(
                out,
                "    size:         {}x{}, depth {}",
                avc.width, avc.height, avc.depth
            );
        }
        Codec::Hevc(hevc) => {
            let _ = writeln!(
                out,
                "    HEVC profile: {} ({}), level {} ({}), tier {}",
                hevc.general_profile_idc,
                names::hevc_profile(hevc.general_profile_idc),
                hevc.general_level_idc,
                names::hevc_level(hevc.general_level_idc),
                u8::from(hevc.general_tier_flag)
            );
            let _ = writeln!(
                out,
                "    chroma:       {}, luma {} bits, chroma {} bits",
                names::chroma_format(hevc.chroma_format_idc),
                hevc.bit_depth_luma,
                hevc.bit_depth_chroma
            );
            let _ = writeln!(out, "    size:         {}x{}", hevc.width, hevc.height);
        }
        Codec::Aac(aac) => {
            let _ = writeln!(
                out,
                "    AAC:          object type {} ({}), {} Hz, {} channels",
                aac.object_type,
                names::audio_object_type(aac.object_type),
                aac.sampling_frequency,
                aac.channel_configuration
            );
            audio_lines(out, &aac.basics);
        }
        Codec::Mp3(basics) | Codec::Ac3(basics) | Codec::Eac3(basics) => audio_lines(out, basics),
        Codec::Unsupported(_) => {}
    }
}

fn audio_lines(out: &mut String, basics: &crate::media::AudioBasics) {
    let _ = writeln!(
        out,
        "    sample rate:  {} Hz, {} channels, {} bits",
        basics.sample_rate, basics.channels, basics.sample_size
    );
    if basics.max_bitrate != 0 || basics.average_bitrate != 0 {
        let _ = writeln!(
            out,
            "    bitrate:      max {}, average {}",
            basics.max_bitrate, basics.average_bitrate
        );
    }
}
