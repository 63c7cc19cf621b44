//! Length-prefixed NAL units (ISO/IEC 14496-15) to the Annex B byte stream of
//! H.264/H.265, with an access unit delimiter in front of every access unit and the
//! parameter sets in front of every keyframe.
//!
//! Size rule (what the planner relies on): the output of a sample is
//! `AUD + (keyframe ? parameter sets : 0) + sample size + (4 − prefix size) × NAL count`.
//! Every NAL gets a 4-byte start code. An AUD that the sample carries itself is
//! replaced by as many zero bytes as it took (legal `trailing_zero_8bits`), so the
//! stream never holds two delimiters and the size stays what the index predicts.

use crate::media::{AvcConfig, HevcConfig};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 AUD, primary_pic_type 7 (any slice type).
const AVC_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
/// H.265 AUD (type 35, layer 0, temporal id 0), pic_type 2 (any).
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalSyntax {
    Avc,
    Hevc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnexBError(pub String);

/// How one video track's samples become Annex B access units.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFraming {
    syntax: NalSyntax,
    nalu_length_size: usize,
    /// Parameter sets already in Annex B form.
    parameter_sets: Vec<u8>,
}

impl VideoFraming {
    pub fn for_avc(config: &AvcConfig) -> Result<VideoFraming, AnnexBError> {
        let units = config.sps.iter().chain(config.pps.iter());
        Self::build(NalSyntax::Avc, config.nalu_length_size, units)
    }

    pub fn for_hevc(config: &HevcConfig) -> Result<VideoFraming, AnnexBError> {
        // VPS (32), SPS (33), PPS (34) in that order, whatever order hvcC lists them.
        let units = [32u8, 33, 34].into_iter().flat_map(|wanted| {
            config
                .arrays
                .iter()
                .filter(move |(nal_type, _)| *nal_type == wanted)
                .flat_map(|(_, units)| units.iter())
        });
        Self::build(NalSyntax::Hevc, config.nalu_length_size, units)
    }

    fn build<'a>(
        syntax: NalSyntax,
        nalu_length_size: u8,
        units: impl Iterator<Item = &'a Vec<u8>>,
    ) -> Result<VideoFraming, AnnexBError> {
        if !matches!(nalu_length_size, 1 | 2 | 4) {
            return Err(AnnexBError(format!(
                "NAL length size {nalu_length_size} is not 1, 2 or 4"
            )));
        }
        let mut parameter_sets = Vec::new();
        for unit in units {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(unit);
        }
        Ok(VideoFraming {
            syntax,
            nalu_length_size: usize::from(nalu_length_size),
            parameter_sets,
        })
    }

    fn aud(&self) -> &'static [u8] {
        match self.syntax {
            NalSyntax::Avc => &AVC_AUD,
            NalSyntax::Hevc => &HEVC_AUD,
        }
    }

    /// True when the output size of a sample depends on its NAL count, which then
    /// has to be read from the sample (prefixes shorter than the start code).
    pub fn needs_nal_counts(&self) -> bool {
        self.nalu_length_size != START_CODE.len()
    }

    /// Output bytes for a sample of `sample_size` bytes holding `nal_count` NAL units.
    pub fn access_unit_len(&self, sample_size: usize, keyframe: bool, nal_count: usize) -> usize {
        let growth = (START_CODE.len() - self.nalu_length_size) * nal_count;
        let parameter_sets = if keyframe {
            self.parameter_sets.len()
        } else {
            0
        };
        self.aud().len() + parameter_sets + sample_size + growth
    }

    /// Number of NAL units in a sample, checking every length against what remains.
    pub fn nal_count(&self, sample: &[u8]) -> Result<usize, AnnexBError> {
        let mut count = 0;
        self.walk(sample, |_, _| count += 1)?;
        Ok(count)
    }

    /// Appends the Annex B access unit for one sample to `out`.
    pub fn write_access_unit(
        &self,
        out: &mut Vec<u8>,
        sample: &[u8],
        keyframe: bool,
    ) -> Result<(), AnnexBError> {
        out.extend_from_slice(self.aud());
        if keyframe {
            out.extend_from_slice(&self.parameter_sets);
        }
        let syntax = self.syntax;
        self.walk(sample, |nal, _| {
            if is_aud(syntax, nal) {
                out.resize(out.len() + START_CODE.len() + nal.len(), 0);
            } else {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(nal);
            }
        })?;
        Ok(())
    }

    /// Calls `visit` with each NAL unit's bytes; fails on a length past the sample.
    fn walk<'s>(
        &self,
        sample: &'s [u8],
        mut visit: impl FnMut(&'s [u8], usize),
    ) -> Result<(), AnnexBError> {
        let prefix = self.nalu_length_size;
        let mut rest = sample;
        let mut index = 0;
        while !rest.is_empty() {
            let (len_bytes, after) = rest.split_at_checked(prefix).ok_or_else(|| {
                AnnexBError(format!(
                    "sample ends inside a NAL length ({} bytes left)",
                    rest.len()
                ))
            })?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            let (nal, next) = after.split_at_checked(len).ok_or_else(|| {
                AnnexBError(format!(
                    "NAL unit of {len} bytes runs past its sample ({} bytes left)",
                    after.len()
                ))
            })?;
            if nal.is_empty() {
                return Err(AnnexBError("empty NAL unit in sample".into()));
            }
            visit(nal, index);
            index += 1;
            rest = next;
        }
        Ok(())
    }
}

fn is_aud(syntax: NalSyntax, nal: &[u8]) -> bool {
    match (syntax, nal.first()) {
        (NalSyntax::Avc, Some(&b)) => b & 0x1F == 9,
        (NalSyntax::Hevc, Some(&b)) => (b >> 1) & 0x3F == 35,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avc(nalu_length_size: u8) -> VideoFraming {
        let config = AvcConfig {
            fourcc: *b"avc1",
            profile: 100,
            profile_compat: 0,
            level: 31,
            nalu_length_size,
            sps: vec![vec![0x67, 1, 2]],
            pps: vec![vec![0x68, 3]],
            width: 16,
            height: 16,
            depth: 24,
        };
        VideoFraming::for_avc(&config).unwrap()
    }

    fn prefixed(size: usize, nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            let len = nal.len().to_be_bytes();
            out.extend_from_slice(&len[len.len() - size..]);
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn conversion_table() {
        let idr: &[u8] = &[0x65, 0xAA, 0xBB];
        let sei: &[u8] = &[0x06, 0x01];
        let aud: &[u8] = &[0x09, 0x10];
        // (prefix size, keyframe, nals, expected output)
        type Case<'a> = (u8, bool, Vec<&'a [u8]>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (
                4,
                true,
                vec![idr],
                [
                    &AVC_AUD[..],
                    &[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1],
                    idr,
                ]
                .concat(),
            ),
            (
                4,
                false,
                vec![sei, idr],
                [&AVC_AUD[..], &[0, 0, 0, 1], sei, &[0, 0, 0, 1], idr].concat(),
            ),
            (
                2,
                false,
                vec![sei, idr],
                [&AVC_AUD[..], &[0, 0, 0, 1], sei, &[0, 0, 0, 1], idr].concat(),
            ),
            (
                1,
                false,
                vec![idr],
                [&AVC_AUD[..], &[0, 0, 0, 1], idr].concat(),
            ),
            // The sample's own AUD becomes zeros of the same length.
            (
                4,
                false,
                vec![aud, idr],
                [&AVC_AUD[..], &[0; 6], &[0, 0, 0, 1], idr].concat(),
            ),
        ];
        for (size, keyframe, nals, expected) in cases {
            let framing = avc(size);
            let sample = prefixed(size as usize, &nals);
            let mut out = Vec::new();
            framing
                .write_access_unit(&mut out, &sample, keyframe)
                .unwrap();
            assert_eq!(out, expected, "size {size} keyframe {keyframe}");
            let count = framing.nal_count(&sample).unwrap();
            assert_eq!(count, nals.len());
            assert_eq!(
                framing.access_unit_len(sample.len(), keyframe, count),
                out.len()
            );
        }
    }

    #[test]
    fn corrupt_lengths_are_errors() {
        let framing = avc(4);
        let cases: [&[u8]; 4] = [
            &[0, 0, 0, 9, 1, 2],
            &[0, 0],
            &[0, 0, 0, 0],
            &[0xFF, 0xFF, 0xFF, 0xFF, 1],
        ];
        for sample in cases {
            let mut out = Vec::new();
            assert!(
                framing.write_access_unit(&mut out, sample, false).is_err(),
                "{sample:?}"
            );
            assert!(framing.nal_count(sample).is_err());
        }
    }

    #[test]
    fn hevc_orders_parameter_sets_and_uses_its_aud() {
        let config = HevcConfig {
            fourcc: *b"hvc1",
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
            arrays: vec![
                (34, vec![vec![0x44, 1]]),
                (32, vec![vec![0x40, 1]]),
                (33, vec![vec![0x42, 1]]),
            ],
            width: 16,
            height: 16,
        };
        let framing = VideoFraming::for_hevc(&config).unwrap();
        let aud: &[u8] = &[0x46, 0x01, 0x50];
        let sample = prefixed(4, &[aud, &[0x26, 0x01, 0xAF]]);
        let mut out = Vec::new();
        framing.write_access_unit(&mut out, &sample, true).unwrap();
        let expected = [
            &HEVC_AUD[..],
            &[
                0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1,
            ],
            &[0; 7],
            &[0, 0, 0, 1, 0x26, 0x01, 0xAF],
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn bad_prefix_size_is_rejected() {
        let config = AvcConfig {
            fourcc: *b"avc1",
            profile: 66,
            profile_compat: 0,
            level: 30,
            nalu_length_size: 3,
            sps: vec![],
            pps: vec![],
            width: 0,
            height: 0,
            depth: 0,
        };
        assert!(VideoFraming::for_avc(&config).is_err());
    }
}
