//! The parameter sets a video track's sample entry must carry before its segments
//! can be decoded (bento4/README.md, "Corrupt input"). The muxer puts them in front
//! of every keyframe; without an SPS (or PPS, or HEVC's VPS) no decoder can start.
//!
//! `avc1`/`hvc1` keep their parameter sets in the sample entry only (ISO/IEC
//! 14496-15 §5.4.2.1, §8.4.1.1): each kind must be there. `avc3`/`hev1` may carry
//! them in the samples instead, so an empty configuration is accepted there (what
//! the samples hold is not read for the plan). Whatever a configuration lists must
//! be a NAL unit of the type it is listed as.

use super::PlanError;
use crate::media::{Codec, Track};

const AVC_SPS: u8 = 7;
const AVC_PPS: u8 = 8;
const HEVC_VPS: u8 = 32;
const HEVC_SPS: u8 = 33;
const HEVC_PPS: u8 = 34;

pub fn check(track: &Track) -> Result<(), PlanError> {
    match &track.codec {
        Codec::Avc(config) => {
            let out_of_band = &config.fourcc == b"avc1";
            check_kind(track, "avcC", "SPS", &config.sps, out_of_band, |nal| {
                nal.first().map(|b| b & 0x1F) == Some(AVC_SPS)
            })?;
            check_kind(track, "avcC", "PPS", &config.pps, out_of_band, |nal| {
                nal.first().map(|b| b & 0x1F) == Some(AVC_PPS)
            })
        }
        Codec::Hevc(config) => {
            let out_of_band = &config.fourcc == b"hvc1";
            for (wanted, name) in [(HEVC_VPS, "VPS"), (HEVC_SPS, "SPS"), (HEVC_PPS, "PPS")] {
                let units: Vec<Vec<u8>> = config
                    .arrays
                    .iter()
                    .filter(|(nal_type, _)| *nal_type == wanted)
                    .flat_map(|(_, units)| units.iter().cloned())
                    .collect();
                check_kind(track, "hvcC", name, &units, out_of_band, |nal| {
                    // Two header bytes; the type is bits 1-6 of the first.
                    nal.len() >= 2 && nal.first().map(|b| (b >> 1) & 0x3F) == Some(wanted)
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_kind(
    track: &Track,
    config: &str,
    name: &str,
    units: &[Vec<u8>],
    required: bool,
    is_kind: impl Fn(&[u8]) -> bool,
) -> Result<(), PlanError> {
    if required && units.is_empty() {
        return Err(PlanError::Corrupt(format!(
            "track {}: {config} has no {name}, so no segment could be decoded",
            track.id
        )));
    }
    match units.iter().position(|unit| !is_kind(unit)) {
        Some(index) => Err(PlanError::Corrupt(format!(
            "track {}: {config} {name} {} is empty or of another NAL type",
            track.id,
            index + 1
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AvcConfig, EditShift, HevcConfig, TrackKind};

    fn track(codec: Codec) -> Track {
        Track {
            id: 1,
            kind: TrackKind::Video,
            flags: 3,
            timescale: 12288,
            duration: 0,
            movie_duration: 0,
            language: "und".into(),
            name: String::new(),
            display_width: 0.0,
            display_height: 0.0,
            codec,
            edit: EditShift::default(),
            samples: Default::default(),
        }
    }

    fn avc(fourcc: &[u8; 4], sps: Vec<Vec<u8>>, pps: Vec<Vec<u8>>) -> Codec {
        Codec::Avc(AvcConfig {
            fourcc: *fourcc,
            profile: 100,
            profile_compat: 0,
            level: 31,
            nalu_length_size: 4,
            sps,
            pps,
            width: 16,
            height: 16,
            depth: 24,
        })
    }

    /// Each case: a name, a codec, and None (accepted) or a phrase the refusal contains.
    fn assert_verdicts(cases: Vec<(&str, Codec, Option<&str>)>) {
        for (name, codec, expected) in cases {
            let got = verdict(codec);
            match (expected, &got) {
                (None, None) => {}
                (Some(needle), Some(reason)) => {
                    assert!(reason.contains(needle), "{name}: {reason}")
                }
                _ => panic!("{name}: {got:?}"),
            }
        }
    }

    fn hevc(fourcc: &[u8; 4], arrays: Vec<(u8, Vec<Vec<u8>>)>) -> Codec {
        Codec::Hevc(HevcConfig {
            fourcc: *fourcc,
            general_profile_space: 0,
            general_tier_flag: false,
            general_profile_idc: 1,
            general_profile_compatibility_flags: 0,
            general_constraint_indicator_flags: 0,
            general_level_idc: 93,
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            nalu_length_size: 4,
            arrays,
            width: 16,
            height: 16,
        })
    }

    /// None = accepted, Some(needle) = corrupt with that in the reason.
    fn verdict(codec: Codec) -> Option<String> {
        match check(&track(codec)) {
            Ok(()) => None,
            Err(PlanError::Corrupt(reason)) => Some(reason),
            Err(other) => panic!("not corrupt: {other:?}"),
        }
    }

    #[test]
    fn avc_needs_sps_and_pps_out_of_band() {
        let sps = vec![vec![0x67, 0x64, 0, 0x1F]];
        let pps = vec![vec![0x68, 0xEE]];
        let cases: Vec<(&str, Codec, Option<&str>)> = vec![
            ("complete", avc(b"avc1", sps.clone(), pps.clone()), None),
            (
                "no SPS",
                avc(b"avc1", vec![], pps.clone()),
                Some("avcC has no SPS"),
            ),
            (
                "no PPS",
                avc(b"avc1", sps.clone(), vec![]),
                Some("avcC has no PPS"),
            ),
            ("avc3 in-band", avc(b"avc3", vec![], vec![]), None),
            (
                "PPS listed as SPS",
                avc(b"avc1", pps.clone(), pps.clone()),
                Some("avcC SPS 1 is empty or of another"),
            ),
            (
                "empty PPS",
                avc(b"avc3", sps.clone(), vec![vec![]]),
                Some("avcC PPS 1 is empty"),
            ),
        ];
        assert_verdicts(cases);
    }

    #[test]
    fn hevc_needs_vps_sps_and_pps_out_of_band() {
        let vps = (HEVC_VPS, vec![vec![0x40, 0x01, 0x0C]]);
        let sps = (HEVC_SPS, vec![vec![0x42, 0x01, 0x01]]);
        let pps = (HEVC_PPS, vec![vec![0x44, 0x01, 0xC1]]);
        let sei = (39u8, vec![vec![0x4E, 0x01, 0x05]]);
        let wrong_sps = (HEVC_SPS, vec![vec![0x44, 0x01]]);
        let cases: Vec<(&str, Codec, Option<&str>)> = vec![
            (
                "complete, any order, with SEI",
                hevc(b"hvc1", vec![pps.clone(), sei, vps.clone(), sps.clone()]),
                None,
            ),
            (
                "no VPS",
                hevc(b"hvc1", vec![sps.clone(), pps.clone()]),
                Some("hvcC has no VPS"),
            ),
            (
                "no SPS",
                hevc(b"hvc1", vec![vps.clone(), pps.clone()]),
                Some("hvcC has no SPS"),
            ),
            (
                "no PPS",
                hevc(b"hvc1", vec![vps.clone(), sps.clone()]),
                Some("hvcC has no PPS"),
            ),
            ("hev1 in-band", hevc(b"hev1", vec![]), None),
            (
                "a PPS in the SPS array",
                hevc(b"hvc1", vec![vps, wrong_sps, pps]),
                Some("hvcC SPS 1 is empty or of another"),
            ),
        ];
        assert_verdicts(cases);
    }
}
