//! Sample entries of the init segment, rebuilt from the parsed codec configuration
//! (ISO/IEC 14496-15 for `avcC`/`hvcC`, 14496-14 for `esds`). HEVC is always
//! written as `hvc1` with every parameter set in `hvcC`, as Apple requires.

use super::boxes::{boxed, full, u16_be, u32_be, zeros};
use crate::media::{AacConfig, AudioBasics, AvcConfig, Codec, HevcConfig, Track};

/// Why a track cannot be written as CMAF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError(pub String);

/// Appends the sample entry (`avc1`, `hvc1`, `mp4a`) for `track`.
pub fn sample_entry(out: &mut Vec<u8>, track: &Track) -> Result<(), EntryError> {
    match &track.codec {
        Codec::Avc(config) => {
            check_parameter_sets(track, !config.sps.is_empty() && !config.pps.is_empty())?;
            visual(out, b"avc1", config.width, config.height, |out| {
                boxed(out, b"avcC", |out| avcc(out, config))
            });
        }
        Codec::Hevc(config) => {
            let has = |kind: u8| {
                config
                    .arrays
                    .iter()
                    .any(|(t, u)| *t == kind && !u.is_empty())
            };
            check_parameter_sets(track, has(32) && has(33) && has(34))?;
            visual(out, b"hvc1", config.width, config.height, |out| {
                boxed(out, b"hvcC", |out| hvcc(out, config))
            });
        }
        Codec::Aac(config) => audio(out, &config.basics, config, track.id),
        Codec::Mp3(basics) => mp3(out, basics, track.id),
        Codec::Ac3(basics) => dolby(out, (b"ac-3", b"dac3"), basics, track.id)?,
        Codec::Eac3(basics) => dolby(out, (b"ec-3", b"dec3"), basics, track.id)?,
        Codec::Unsupported(fourcc) => {
            return Err(EntryError(format!(
                "unsupported codec {} in track {}",
                String::from_utf8_lossy(fourcc),
                track.id
            )))
        }
    }
    Ok(())
}

/// `hvc1`/`avc1` keep parameter sets out of band: a sample entry without them
/// would make segments no player can start (`avc3`/`hev1` sources that carry
/// them only in the samples end here).
fn check_parameter_sets(track: &Track, present: bool) -> Result<(), EntryError> {
    if present {
        Ok(())
    } else {
        Err(EntryError(format!(
            "track {}: parameter sets only in the samples cannot go into a CMAF sample entry",
            track.id
        )))
    }
}

fn visual(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    width: u16,
    height: u16,
    config: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |out| {
        zeros(out, 6);
        u16_be(out, 1); // data_reference_index
        zeros(out, 16); // pre_defined, reserved
        u16_be(out, width);
        u16_be(out, height);
        u32_be(out, 0x0048_0000); // 72 dpi
        u32_be(out, 0x0048_0000);
        u32_be(out, 0);
        u16_be(out, 1); // frame_count
        zeros(out, 32); // compressorname
        u16_be(out, 0x0018);
        u16_be(out, 0xFFFF);
        config(out);
    });
}

fn avcc(out: &mut Vec<u8>, config: &AvcConfig) {
    out.extend_from_slice(&[
        1,
        config.profile,
        config.profile_compat,
        config.level,
        0xFC | (config.nalu_length_size.saturating_sub(1) & 3),
        0xE0 | (config.sps.len().min(31) as u8),
    ]);
    for sps in config.sps.iter().take(31) {
        unit(out, sps);
    }
    out.push(config.pps.len().min(255) as u8);
    for pps in config.pps.iter().take(255) {
        unit(out, pps);
    }
}

fn hvcc(out: &mut Vec<u8>, config: &HevcConfig) {
    out.push(1);
    out.push(
        (config.general_profile_space & 3) << 6
            | u8::from(config.general_tier_flag) << 5
            | (config.general_profile_idc & 0x1F),
    );
    u32_be(out, config.general_profile_compatibility_flags);
    out.extend_from_slice(&config.general_constraint_indicator_flags.to_be_bytes()[2..]);
    out.push(config.general_level_idc);
    u16_be(out, 0xF000); // min_spatial_segmentation_idc unknown
    out.push(0xFC); // parallelismType unknown
    out.push(0xFC | (config.chroma_format_idc & 3));
    out.push(0xF8 | (config.bit_depth_luma.saturating_sub(8) & 7));
    out.push(0xF8 | (config.bit_depth_chroma.saturating_sub(8) & 7));
    u16_be(out, 0); // avgFrameRate unknown
                    // constantFrameRate 0, numTemporalLayers 0 (unknown), temporalIdNested 0.
    out.push(config.nalu_length_size.saturating_sub(1) & 3);
    out.push(config.arrays.len().min(255) as u8);
    for (kind, units) in config.arrays.iter().take(255) {
        out.push(0x80 | (kind & 0x3F)); // array_completeness: all of them are here
        u16_be(out, units.len().min(0xFFFF) as u16);
        for nal in units.iter().take(0xFFFF) {
            unit(out, nal);
        }
    }
}

fn unit(out: &mut Vec<u8>, nal: &[u8]) {
    let len = nal.len().min(0xFFFF);
    u16_be(out, len as u16);
    out.extend_from_slice(&nal[..len]);
}

fn audio_entry(
    out: &mut Vec<u8>,
    (kind, basics): (&[u8; 4], &AudioBasics),
    sample_rate: u32,
    esds: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |out| {
        zeros(out, 6);
        u16_be(out, 1);
        zeros(out, 8);
        u16_be(out, basics.channels.max(1));
        u16_be(out, 16);
        zeros(out, 4);
        // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0.
        u32_be(
            out,
            if sample_rate <= 0xFFFF {
                sample_rate << 16
            } else {
                0
            },
        );
        esds(out);
    });
}

/// `ac-3` + `dac3` or `ec-3` + `dec3` (ETSI TS 102 366 Annex F): the configuration is
/// the source's own, which describes the very frames the samples hold.
fn dolby(
    out: &mut Vec<u8>,
    (kind, config): (&[u8; 4], &[u8; 4]),
    basics: &AudioBasics,
    track_id: u32,
) -> Result<(), EntryError> {
    if basics.dolby_config.is_empty() {
        return Err(EntryError(format!(
            "track {track_id}: {} without its {} box",
            String::from_utf8_lossy(kind),
            String::from_utf8_lossy(config)
        )));
    }
    audio_entry(out, (kind, basics), basics.sample_rate, |out| {
        boxed(out, config, |out| {
            out.extend_from_slice(&basics.dolby_config)
        })
    });
    Ok(())
}

fn audio(out: &mut Vec<u8>, basics: &AudioBasics, config: &AacConfig, track_id: u32) {
    let rate = if basics.sample_rate > 0 {
        basics.sample_rate
    } else {
        config.sampling_frequency
    };
    audio_entry(out, (b"mp4a", basics), rate, |out| {
        esds(out, track_id, 0x40, basics, &config.decoder_info)
    });
}

fn mp3(out: &mut Vec<u8>, basics: &AudioBasics, track_id: u32) {
    let oti = if basics.sample_rate >= 32_000 {
        0x6B
    } else {
        0x69
    };
    audio_entry(out, (b"mp4a", basics), basics.sample_rate, |out| {
        esds(out, track_id, oti, basics, &[])
    });
}

/// `esds`: ES_Descriptor > DecoderConfigDescriptor (+ DecoderSpecificInfo) + SLConfig.
fn esds(out: &mut Vec<u8>, track_id: u32, oti: u8, basics: &AudioBasics, info: &[u8]) {
    full(out, b"esds", 0, 0, |out| {
        let mut decoder = vec![oti, 0x15]; // audio stream, upstream 0, reserved 1
        decoder.extend_from_slice(&basics.buffer_size.min(0xFF_FFFF).to_be_bytes()[1..]);
        decoder.extend_from_slice(&basics.max_bitrate.to_be_bytes());
        decoder.extend_from_slice(&basics.average_bitrate.to_be_bytes());
        if !info.is_empty() {
            descriptor(&mut decoder, 0x05, info);
        }
        let mut es = Vec::new();
        es.extend_from_slice(&(track_id.min(0xFFFF) as u16).to_be_bytes());
        es.push(0);
        descriptor(&mut es, 0x04, &decoder);
        descriptor(&mut es, 0x06, &[0x02]);
        descriptor(out, 0x03, &es);
    });
}

/// A descriptor with its size in the 7-bit-per-byte expandable form.
fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len().min(0x0FFF_FFFF) as u32;
    let mut bytes = [
        0x80 | (len >> 21) as u8 & 0x7F,
        0x80 | (len >> 14) as u8 & 0x7F,
        0x80 | (len >> 7) as u8 & 0x7F,
        len as u8 & 0x7F,
    ];
    bytes[3] &= 0x7F;
    // The shortest form: drop leading continuation bytes that carry no bits.
    let skip = bytes.iter().take(3).take_while(|b| **b == 0x80).count();
    out.extend_from_slice(&bytes[skip..]);
    out.extend_from_slice(&body[..len as usize]);
}

#[cfg(test)]
mod tests {
    use super::descriptor;

    #[test]
    fn descriptor_sizes_use_the_shortest_form() {
        let mut out = Vec::new();
        descriptor(&mut out, 5, &[1, 2]);
        assert_eq!(out, [5, 2, 1, 2]);
        let mut out = Vec::new();
        descriptor(&mut out, 4, &[0; 200]);
        assert_eq!(&out[..3], &[4, 0x81, 0x48]);
        assert_eq!(out.len(), 203);
    }
}
