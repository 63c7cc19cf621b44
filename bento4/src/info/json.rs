//! `mp4info --format json`: Bento4's fields and values (key order aside), plus a
//! few of our own (`codecs_string` for every codec, `frame_rate` for fragments).

use serde_json::{json, Map, Value};

use super::names::described_codecs;
use super::{fourcc, hex, layout, names, to_ms, track_stats, Options, SampleBytes};
use crate::error::Mp4Error;
use crate::media::{Codec, Movie, Track, TrackKind};
use crate::mp4::audio_config::parse_audio_specific_config;
use crate::mp4::EntryDetails;

pub fn render(
    movie: &Movie,
    details: &[EntryDetails],
    options: &Options,
    sample_bytes: &mut SampleBytes<'_>,
) -> Result<String, Mp4Error> {
    let file = &movie.file;
    let mut root = Map::new();
    root.insert(
        "file".into(),
        json!({
            "major_brand": fourcc(&file.major_brand),
            "minor_version": file.minor_version,
            "compatible_brands": file.compatible_brands.iter().map(fourcc).collect::<Vec<_>>(),
            "fast_start": file.fast_start,
        }),
    );
    root.insert(
        "movie".into(),
        json!({
            "duration_ms": to_ms(movie.duration, movie.time_scale),
            "duration": movie.duration,
            "time_scale": movie.time_scale,
            "fragments": movie.fragmented,
        }),
    );
    let mut tracks = Vec::new();
    for (index, track) in movie.tracks.iter().enumerate() {
        let detail = details.get(index).cloned().unwrap_or_default();
        let mut value = track_json(movie, track, &detail, options);
        if options.show_samples {
            value.insert(
                "samples".into(),
                samples_json(track, options, sample_bytes)?,
            );
        }
        tracks.push(Value::Object(value));
    }
    root.insert("tracks".into(), Value::Array(tracks));
    if options.show_layout {
        let runs = layout(movie)
            .into_iter()
            .map(|(track, offset, samples, size)| json!({"track": track, "offset": offset, "samples": samples, "size": size}))
            .collect();
        root.insert("layout".into(), Value::Array(runs));
    }
    if options.verbose {
        root.insert("file_size".into(), json!(file.file_size));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(root))
        .map_err(|e| Mp4Error::Io(format!("rendering JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn track_json(
    movie: &Movie,
    track: &Track,
    detail: &EntryDetails,
    options: &Options,
) -> Map<String, Value> {
    let stats = track_stats(track);
    let mut media = Map::new();
    media.insert("sample_count".into(), json!(detail.moov_sample_count));
    media.insert("timescale".into(), json!(track.timescale));
    media.insert("duration".into(), json!(track.duration));
    media.insert(
        "duration_ms".into(),
        json!(to_ms(track.duration, track.timescale)),
    );
    media.insert("bitrate".into(), json!(stats.bitrate_kbps));
    if movie.fragmented {
        media.insert(
            "sample_count_with_fragments".into(),
            json!(stats.sample_count),
        );
        media.insert(
            "duration_with_fragments".into(),
            json!(stats.sample_duration),
        );
        media.insert(
            "duration_with_fragments_ms".into(),
            json!(to_ms(stats.sample_duration, track.timescale)),
        );
    }
    let mut value = Map::new();
    value.insert("flags".into(), json!(track.flags));
    value.insert(
        "flag_names".into(),
        json!(names::track_flag_names(track.flags)),
    );
    value.insert("id".into(), json!(track.id));
    value.insert("type".into(), json!(names::track_type(&track.kind)));
    value.insert(
        "duration_ms".into(),
        json!(to_ms(track.movie_duration, movie.time_scale)),
    );
    value.insert("language".into(), json!(track.language));
    value.insert("media".into(), Value::Object(media));
    if track.kind == TrackKind::Video {
        value.insert("display_width".into(), json!(track.display_width));
        value.insert("display_height".into(), json!(track.display_height));
        value.insert("frame_rate".into(), json!(stats.frame_rate));
    }
    if options.verbose {
        value.insert("sync_samples".into(), json!(stats.sync_count));
        value.insert(
            "edit".into(),
            json!({"empty_duration": track.edit.empty_duration, "media_start": track.edit.media_start}),
        );
    }
    value.insert(
        "sample_descriptions".into(),
        json!([sample_description(&track.codec, detail)]),
    );
    value
}

fn sample_description(codec: &Codec, detail: &EntryDetails) -> Value {
    let mut entry = Map::new();
    entry.insert("coding".into(), json!(fourcc(&detail.fourcc)));
    entry.insert("coding_name".into(), json!(names::coding_name(codec)));
    if let Some(codecs) = described_codecs(codec) {
        entry.insert("codecs_string".into(), json!(codecs));
    }
    match codec {
        Codec::Avc(avc) => {
            entry.insert("avc_profile".into(), json!(avc.profile));
            entry.insert(
                "avc_profile_name".into(),
                json!(names::avc_profile(avc.profile)),
            );
            entry.insert("avc_profile_compat".into(), json!(avc.profile_compat));
            entry.insert("avc_level".into(), json!(avc.level));
            entry.insert("avc_nalu_length_size".into(), json!(avc.nalu_length_size));
            entry.insert(
                "avc_sps".into(),
                json!(avc.sps.iter().map(|s| hex(s)).collect::<Vec<_>>()),
            );
            entry.insert(
                "avc_pps".into(),
                json!(avc.pps.iter().map(|s| hex(s)).collect::<Vec<_>>()),
            );
            entry.insert("width".into(), json!(avc.width));
            entry.insert("height".into(), json!(avc.height));
            entry.insert("depth".into(), json!(avc.depth));
        }
        Codec::Hevc(hevc) => {
            entry.insert(
                "hevc_profile_space".into(),
                json!(hevc.general_profile_space),
            );
            entry.insert("hevc_profile".into(), json!(hevc.general_profile_idc));
            entry.insert(
                "hevc_profile_name".into(),
                json!(names::hevc_profile(hevc.general_profile_idc)),
            );
            entry.insert(
                "hevc_profile_compat".into(),
                json!(hevc.general_profile_compatibility_flags),
            );
            entry.insert(
                "hevc_constraints".into(),
                json!(hevc.general_constraint_indicator_flags),
            );
            entry.insert("hevc_level".into(), json!(hevc.general_level_idc));
            entry.insert(
                "hevc_level_name".into(),
                json!(names::hevc_level(hevc.general_level_idc)),
            );
            entry.insert("hevc_tier".into(), json!(u8::from(hevc.general_tier_flag)));
            entry.insert("hevc_chroma_format".into(), json!(hevc.chroma_format_idc));
            entry.insert(
                "hevc_chroma_format_name".into(),
                json!(names::chroma_format(hevc.chroma_format_idc)),
            );
            entry.insert("hevc_chroma_bit_depth".into(), json!(hevc.bit_depth_chroma));
            // Bento4's spelling, kept so consumers of its JSON find the key.
            entry.insert("hevc_lunma_bit_depth".into(), json!(hevc.bit_depth_luma));
            entry.insert(
                "hevc_average_frame_rate".into(),
                json!(detail.hevc_average_frame_rate),
            );
            entry.insert(
                "hevc_constant_frame_rate".into(),
                json!(detail.hevc_constant_frame_rate),
            );
            entry.insert("hevc_nalu_length_size".into(), json!(hevc.nalu_length_size));
            let sequences: Vec<Value> = hevc
                .arrays
                .iter()
                .enumerate()
                .map(|(index, (nal_type, units))| {
                    let complete = detail
                        .hevc_array_completeness
                        .get(index)
                        .copied()
                        .unwrap_or(false);
                    json!({
                        "array_completeness": u8::from(complete),
                        "type": nal_type,
                        "type_name": names::hevc_nal_type(*nal_type),
                        "data": units.iter().map(|u| hex(u)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            entry.insert("hevc_sequences".into(), Value::Array(sequences));
            entry.insert("width".into(), json!(hevc.width));
            entry.insert("height".into(), json!(hevc.height));
            entry.insert("depth".into(), json!(detail.depth));
        }
        Codec::Aac(aac) => {
            es_fields(&mut entry, &aac.basics);
            entry.insert("decoder_info".into(), json!(hex(&aac.decoder_info)));
            entry.insert("mpeg_4_audio_object_type".into(), json!(aac.object_type));
            entry.insert(
                "mpeg_4_audio_object_type_name".into(),
                json!(names::audio_object_type(aac.object_type)),
            );
            let mut config = Map::new();
            config.insert("sampling_frequency".into(), json!(aac.sampling_frequency));
            config.insert("channels".into(), json!(aac.channel_configuration));
            if let Some(ext) = parse_audio_specific_config(&aac.decoder_info)
                .ok()
                .and_then(|asc| asc.extension)
            {
                config.insert(
                    "extension".into(),
                    json!({
                        "object_type": ext.object_type,
                        "object_type_name": names::audio_object_type(ext.object_type),
                        "sbr_present": ext.sbr_present,
                        "ps_present": ext.ps_present,
                        "sampling_frequency": ext.sampling_frequency,
                    }),
                );
            }
            entry.insert("mpeg_4_audio_decoder_config".into(), Value::Object(config));
            audio_fields(&mut entry, &aac.basics);
        }
        Codec::Mp3(basics) | Codec::Ac3(basics) | Codec::Eac3(basics) => {
            if basics.object_type_indication != 0 {
                es_fields(&mut entry, basics);
            }
            audio_fields(&mut entry, basics);
        }
        Codec::Unsupported(_) => {}
    }
    Value::Object(entry)
}

fn es_fields(entry: &mut Map<String, Value>, basics: &crate::media::AudioBasics) {
    entry.insert("stream_type".into(), json!(basics.stream_type));
    entry.insert(
        "stream_type_name".into(),
        json!(names::stream_type(basics.stream_type)),
    );
    entry.insert("object_type".into(), json!(basics.object_type_indication));
    entry.insert(
        "object_type_name".into(),
        json!(names::object_type_indication(basics.object_type_indication)),
    );
    entry.insert("max_bitrate".into(), json!(basics.max_bitrate));
    entry.insert("average_bitrate".into(), json!(basics.average_bitrate));
    entry.insert("buffer_size".into(), json!(basics.buffer_size));
}

fn audio_fields(entry: &mut Map<String, Value>, basics: &crate::media::AudioBasics) {
    entry.insert("sample_rate".into(), json!(basics.sample_rate));
    entry.insert("sample_size".into(), json!(basics.sample_size));
    entry.insert("channels".into(), json!(basics.channels));
}

fn samples_json(
    track: &Track,
    options: &Options,
    sample_bytes: &mut SampleBytes<'_>,
) -> Result<Value, Mp4Error> {
    let mut out = Vec::with_capacity(track.samples.len());
    for (index, sample) in track.samples.iter().enumerate() {
        let mut value = json!({
            "index": index,
            "offset": sample.offset,
            "size": sample.size,
            "dts": sample.dts,
            "cts": i64::try_from(sample.dts).unwrap_or(i64::MAX).saturating_add(i64::from(sample.cts_offset)),
            "duration": sample.duration,
            "sync": sample.sync,
        });
        if options.show_sample_data {
            if let Value::Object(map) = &mut value {
                map.insert("data".into(), json!(hex(&sample_bytes(&sample)?)));
            }
        }
        out.push(value);
    }
    Ok(Value::Array(out))
}
