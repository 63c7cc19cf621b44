//! RFC 6381 `CODECS` strings, as HLS master playlists and `mp4info` print them.

use crate::media::Codec;
use crate::mp4::audio_config::parse_audio_specific_config;

/// The codecs string of a track, or None for a codec we cannot name.
pub fn codecs_string(codec: &Codec) -> Option<String> {
    match codec {
        Codec::Avc(avc) => Some(format!(
            "{}.{:02X}{:02X}{:02X}",
            String::from_utf8_lossy(&avc.fourcc),
            avc.profile,
            avc.profile_compat,
            avc.level
        )),
        Codec::Hevc(hevc) => {
            // ISO/IEC 14496-15 Annex E: profile space letter, profile, reversed
            // compatibility flags, tier+level, then constraint bytes without trailing zeros.
            let space = ["", "A", "B", "C"]
                .get(usize::from(hevc.general_profile_space))
                .copied()
                .unwrap_or("");
            let tier = if hevc.general_tier_flag { 'H' } else { 'L' };
            let mut text = format!(
                "{}.{}{}.{:X}.{}{}",
                String::from_utf8_lossy(&hevc.fourcc),
                space,
                hevc.general_profile_idc,
                hevc.general_profile_compatibility_flags.reverse_bits(),
                tier,
                hevc.general_level_idc
            );
            let constraints = hevc.general_constraint_indicator_flags.to_be_bytes();
            // Only the low 48 bits are the six constraint bytes.
            let bytes = constraints.get(2..).unwrap_or(&[]);
            let used = bytes
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |last| last + 1);
            for byte in bytes.iter().take(used) {
                text.push_str(&format!(".{byte:X}"));
            }
            Some(text)
        }
        Codec::Aac(aac) => {
            let object_type = parse_audio_specific_config(&aac.decoder_info)
                .map(|asc| asc.codecs_object_type())
                .unwrap_or(aac.object_type);
            Some(format!("mp4a.40.{object_type}"))
        }
        // Apple's HLS authoring spec names MP3 this way, whatever the MP4 fourcc.
        Codec::Mp3(_) => Some("mp4a.40.34".to_string()),
        Codec::Ac3(_) => Some("ac-3".to_string()),
        Codec::Eac3(_) => Some("ec-3".to_string()),
        Codec::Unsupported(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AacConfig, AudioBasics, AvcConfig, HevcConfig};

    fn avc(profile: u8, compat: u8, level: u8) -> Codec {
        Codec::Avc(AvcConfig {
            fourcc: *b"avc1",
            profile,
            profile_compat: compat,
            level,
            nalu_length_size: 4,
            sps: vec![],
            pps: vec![],
            width: 0,
            height: 0,
            depth: 24,
        })
    }

    fn hevc(space: u8, tier: bool, compat: u32, constraints: u64, level: u8) -> Codec {
        Codec::Hevc(HevcConfig {
            fourcc: *b"hvc1",
            general_profile_space: space,
            general_tier_flag: tier,
            general_profile_idc: 1,
            general_profile_compatibility_flags: compat,
            general_constraint_indicator_flags: constraints,
            general_level_idc: level,
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            nalu_length_size: 4,
            arrays: vec![],
            width: 0,
            height: 0,
        })
    }

    fn aac(decoder_info: Vec<u8>) -> Codec {
        Codec::Aac(AacConfig {
            object_type: 2,
            decoder_info,
            sampling_frequency: 48000,
            sampling_frequency_index: 3,
            channel_configuration: 2,
            basics: AudioBasics::default(),
        })
    }

    #[test]
    fn codecs_strings() {
        let cases: Vec<(&str, Codec, Option<&str>)> = vec![
            (
                "avc high 3.1 (reference)",
                avc(100, 0, 31),
                Some("avc1.64001F"),
            ),
            ("avc baseline", avc(66, 0xc0, 30), Some("avc1.42C01E")),
            (
                "hevc main (reference)",
                hevc(0, false, 0x6000_0000, 0x9000_0000_0000, 93),
                Some("hvc1.1.6.L93.90"),
            ),
            (
                "hevc high tier, space B, two constraint bytes",
                hevc(2, true, 0x4000_0000, 0xb010_0000_0000, 120),
                Some("hvc1.B1.2.H120.B0.10"),
            ),
            (
                "hevc no constraints",
                hevc(0, false, 0x6000_0000, 0, 90),
                Some("hvc1.1.6.L90"),
            ),
            (
                "aac lc (reference config)",
                aac(vec![0x11, 0x90, 0x56, 0xe5, 0x00]),
                Some("mp4a.40.2"),
            ),
            (
                "he-aac explicit",
                aac(vec![0x2b, 0x11, 0x88, 0x00]),
                Some("mp4a.40.5"),
            ),
            ("aac unparsable config", aac(vec![]), Some("mp4a.40.2")),
            (
                "mp3",
                Codec::Mp3(AudioBasics::default()),
                Some("mp4a.40.34"),
            ),
            ("ac-3", Codec::Ac3(AudioBasics::default()), Some("ac-3")),
            ("unsupported", Codec::Unsupported(*b"vp09"), None),
        ];
        for (name, codec, expected) in cases {
            assert_eq!(codecs_string(&codec).as_deref(), expected, "{name}");
        }
    }
}
