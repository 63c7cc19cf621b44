//! `stsd` sample entries (ISO/IEC 14496-12 §8.5.2, 14496-15 for `avcC`/`hvcC`,
//! 14496-14 for `esds`, ETSI TS 102 366 for AC-3/E-AC-3) turned into a [`Codec`].

use crate::error::Mp4Error;
use crate::media::{AacConfig, AudioBasics, AvcConfig, Codec, HevcConfig};
use crate::mp4::audio_config::{parse_audio_specific_config, parse_esds};
use crate::mp4::boxes::{children, find, require, FourCc, Reader};

/// Facts `mp4info` prints that the media model has no place for (one per track).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntryDetails {
    /// The sample entry's fourcc (`avc1`, `mp4a`, …).
    pub fourcc: FourCc,
    /// VisualSampleEntry depth (0 for audio).
    pub depth: u16,
    /// `hvcC` fields beyond [`HevcConfig`]: per-array completeness, frame rate info.
    pub hevc_array_completeness: Vec<bool>,
    pub hevc_average_frame_rate: u16,
    pub hevc_constant_frame_rate: u8,
    /// Samples listed in `moov` itself (the rest of a fragmented file's come from `moof`s).
    pub moov_sample_count: usize,
}

/// Parses an `stsd` body and returns the codec of its first entry.
pub fn parse_stsd(body: &[u8]) -> Result<(Codec, EntryDetails), Mp4Error> {
    let mut reader = Reader::new(body, "stsd");
    reader.full_box()?;
    let count = reader.u32()?;
    let entry = children(reader.rest()).next().ok_or_else(|| {
        Mp4Error::Corrupt(format!("stsd: {count} entries declared, none present"))
    })??;
    let mut details = EntryDetails {
        fourcc: entry.fourcc,
        ..Default::default()
    };
    let codec = match &entry.fourcc {
        b"avc1" | b"avc3" => {
            let (width, height, depth, boxes) = visual_entry(entry.body)?;
            details.depth = depth;
            let avcc = require(boxes, b"avcC", "avc1")?;
            Codec::Avc(parse_avcc(avcc, entry.fourcc, width, height, depth)?)
        }
        b"hvc1" | b"hev1" => {
            let (width, height, depth, boxes) = visual_entry(entry.body)?;
            details.depth = depth;
            let hvcc = require(boxes, b"hvcC", "hvc1")?;
            Codec::Hevc(parse_hvcc(hvcc, entry.fourcc, width, height, &mut details)?)
        }
        b"mp4a" => mp4a(entry.body)?,
        b".mp3" => Codec::Mp3(audio_entry(entry.body)?.0),
        b"ac-3" => Codec::Ac3(dolby_entry(entry.body, b"dac3")?),
        b"ec-3" => Codec::Eac3(dolby_entry(entry.body, b"dec3")?),
        other => Codec::Unsupported(*other),
    };
    Ok((codec, details))
}

/// VisualSampleEntry: returns width, height, depth and the child boxes.
fn visual_entry(body: &[u8]) -> Result<(u16, u16, u16, &[u8]), Mp4Error> {
    let mut reader = Reader::new(body, "visual sample entry");
    reader.skip(24)?; // reserved, data_reference_index, pre_defined, reserved
    let width = reader.u16()?;
    let height = reader.u16()?;
    reader.skip(46)?; // resolutions, reserved, frame_count, compressorname
    let depth = reader.u16()?;
    reader.skip(2)?;
    Ok((width, height, depth, reader.rest()))
}

/// AudioSampleEntry (with the QuickTime version 1/2 layouts ffmpeg may write).
fn audio_entry(body: &[u8]) -> Result<(AudioBasics, &[u8]), Mp4Error> {
    let mut reader = Reader::new(body, "audio sample entry");
    reader.skip(8)?; // reserved, data_reference_index
    let version = reader.u16()?;
    reader.skip(6)?; // revision, vendor
    let mut basics = AudioBasics {
        channels: reader.u16()?,
        sample_size: reader.u16()?,
        ..Default::default()
    };
    reader.skip(4)?; // compression_id, packet_size
    basics.sample_rate = reader.u32()? >> 16;
    match version {
        1 => reader.skip(16)?,
        2 => {
            reader.skip(4)?; // sizeOfStructOnly
            basics.sample_rate = f64::from_bits(reader.u64()?) as u32;
            basics.channels = u16::try_from(reader.u32()?).unwrap_or(u16::MAX);
            reader.skip(20)?;
        }
        _ => {}
    }
    Ok((basics, reader.rest()))
}

/// AC-3 nominal bit rates in kbit/s by `bit_rate_code` (ETSI TS 102 366 Table F.4.1).
const AC3_BITRATES: [u32; 19] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
];

/// AC-3/E-AC-3 entries: the basics, plus the bit rate from `dac3`/`dec3` when present.
fn dolby_entry(body: &[u8], config: &[u8; 4]) -> Result<AudioBasics, Mp4Error> {
    let (mut basics, boxes) = audio_entry(body)?;
    let Some(config_body) = find(boxes, config)? else {
        return Ok(basics);
    };
    basics.dolby_config = config_body.to_vec();
    let mut reader = Reader::new(config_body, "dac3/dec3");
    let kbps = if config == b"dac3" {
        // fscod(2) bsid(5) bsmod(3) acmod(3) lfeon(1) bit_rate_code(5) reserved(5)
        let bits = reader.u24()?;
        let code = ((bits >> 5) & 0x1f) as usize;
        // Full-bandwidth channels per acmod (ATSC A/52 Table 5.8), plus the LFE.
        let acmod = ((bits >> 11) & 0x7) as usize;
        let lfe = ((bits >> 10) & 0x1) as u16;
        basics.coded_channels = [2u16, 1, 2, 3, 3, 4, 4, 5]
            .get(acmod)
            .map_or(0, |n| n + lfe);
        AC3_BITRATES.get(code).copied().unwrap_or(0)
    } else {
        // data_rate(13) num_ind_sub(3)
        u32::from(reader.u16()? >> 3)
    };
    basics.average_bitrate = kbps * 1000;
    basics.max_bitrate = basics.average_bitrate;
    Ok(basics)
}

fn mp4a(body: &[u8]) -> Result<Codec, Mp4Error> {
    let (mut basics, boxes) = audio_entry(body)?;
    // ffmpeg puts esds straight in mp4a; QuickTime nests it in a `wave` box.
    let esds = match find(boxes, b"esds")? {
        Some(esds) => esds,
        None => match find(boxes, b"wave")? {
            Some(wave) => require(wave, b"esds", "wave")?,
            None => return Err(Mp4Error::Corrupt("'esds' box missing in 'mp4a'".into())),
        },
    };
    let es = parse_esds(esds)?;
    basics.object_type_indication = es.object_type_indication;
    basics.stream_type = es.stream_type;
    basics.max_bitrate = es.max_bitrate;
    basics.average_bitrate = es.average_bitrate;
    basics.buffer_size = es.buffer_size;
    match es.object_type_indication {
        // MPEG-4 audio, and MPEG-2 AAC main/LC/SSR profiles.
        0x40 | 0x66..=0x68 => {
            let asc = parse_audio_specific_config(&es.decoder_info)?;
            Ok(Codec::Aac(AacConfig {
                object_type: asc.object_type,
                decoder_info: es.decoder_info,
                sampling_frequency: asc.sampling_frequency,
                sampling_frequency_index: asc.sampling_frequency_index,
                channel_configuration: asc.channel_configuration,
                basics,
            }))
        }
        0x69 | 0x6b => Ok(Codec::Mp3(basics)),
        _ => Ok(Codec::Unsupported(*b"mp4a")),
    }
}

/// Reads `count` parameter sets, each a u16 length then bytes.
fn parameter_sets(reader: &mut Reader<'_>, count: usize) -> Result<Vec<Vec<u8>>, Mp4Error> {
    // Each set costs at least its 2-byte length: bound the allocation by that.
    reader.check_count(count as u64, 2)?;
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let length = reader.u16()?;
        sets.push(reader.bytes(usize::from(length))?.to_vec());
    }
    Ok(sets)
}

fn parse_avcc(
    body: &[u8],
    fourcc: FourCc,
    width: u16,
    height: u16,
    depth: u16,
) -> Result<AvcConfig, Mp4Error> {
    let mut reader = Reader::new(body, "avcC");
    reader.u8()?; // configurationVersion
    let profile = reader.u8()?;
    let profile_compat = reader.u8()?;
    let level = reader.u8()?;
    let nalu_length_size = (reader.u8()? & 0x03) + 1;
    if nalu_length_size == 3 {
        return Err(Mp4Error::Corrupt(
            "avcC: NAL unit length size 3 is not allowed".into(),
        ));
    }
    let sps_count = usize::from(reader.u8()? & 0x1f);
    let sps = parameter_sets(&mut reader, sps_count)?;
    let pps_count = usize::from(reader.u8()?);
    let pps = parameter_sets(&mut reader, pps_count)?;
    Ok(AvcConfig {
        fourcc,
        profile,
        profile_compat,
        level,
        nalu_length_size,
        sps,
        pps,
        width,
        height,
        depth,
    })
}

fn parse_hvcc(
    body: &[u8],
    fourcc: FourCc,
    width: u16,
    height: u16,
    details: &mut EntryDetails,
) -> Result<HevcConfig, Mp4Error> {
    let mut reader = Reader::new(body, "hvcC");
    reader.u8()?; // configurationVersion
    let byte = reader.u8()?;
    let compatibility = reader.u32()?;
    let constraint_high = u64::from(reader.u16()?);
    let constraint_low = u64::from(reader.u32()?);
    let level = reader.u8()?;
    reader.skip(3)?; // min_spatial_segmentation_idc, parallelismType
    let chroma_format_idc = reader.u8()? & 0x03;
    let bit_depth_luma = (reader.u8()? & 0x07) + 8;
    let bit_depth_chroma = (reader.u8()? & 0x07) + 8;
    details.hevc_average_frame_rate = reader.u16()?;
    let packed = reader.u8()?;
    details.hevc_constant_frame_rate = packed >> 6;
    let nalu_length_size = (packed & 0x03) + 1;
    let array_count = usize::from(reader.u8()?);
    reader.check_count(array_count as u64, 3)?;
    let mut arrays = Vec::with_capacity(array_count);
    for _ in 0..array_count {
        let head = reader.u8()?;
        details.hevc_array_completeness.push(head & 0x80 != 0);
        let units = usize::from(reader.u16()?);
        arrays.push((head & 0x3f, parameter_sets(&mut reader, units)?));
    }
    Ok(HevcConfig {
        fourcc,
        general_profile_space: byte >> 6,
        general_tier_flag: byte & 0x20 != 0,
        general_profile_idc: byte & 0x1f,
        general_profile_compatibility_flags: compatibility,
        general_constraint_indicator_flags: (constraint_high << 32) | constraint_low,
        general_level_idc: level,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        nalu_length_size,
        arrays,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::test_boxes::boxed;

    fn stsd(entry: Vec<u8>) -> Vec<u8> {
        [vec![0, 0, 0, 0, 0, 0, 0, 1], entry].concat()
    }

    fn visual(fourcc: &[u8; 4], config: Vec<u8>) -> Vec<u8> {
        // A VisualSampleEntry has 78 bytes before its child boxes.
        let mut body = vec![0u8; 78];
        body[24..26].copy_from_slice(&1280u16.to_be_bytes());
        body[26..28].copy_from_slice(&720u16.to_be_bytes());
        body[74..76].copy_from_slice(&24u16.to_be_bytes());
        body.extend_from_slice(&config);
        boxed(fourcc, &body)
    }

    fn avcc(sps_count: u8, pps: &[u8]) -> Vec<u8> {
        let mut body = vec![1, 100, 0, 31, 0xff, 0xe0 | sps_count];
        for _ in 0..sps_count {
            body.extend_from_slice(&[0, 2, 0x67, 0x64]);
        }
        body.push(1);
        body.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        body.extend_from_slice(pps);
        boxed(b"avcC", &body)
    }

    fn audio(fourcc: &[u8; 4], children: Vec<u8>) -> Vec<u8> {
        let mut body = vec![0u8; 28];
        body[16..18].copy_from_slice(&2u16.to_be_bytes());
        body[18..20].copy_from_slice(&16u16.to_be_bytes());
        body[24..28].copy_from_slice(&(48000u32 << 16).to_be_bytes());
        body.extend_from_slice(&children);
        boxed(fourcc, &body)
    }

    #[test]
    fn sample_entries() {
        let good_avc = Codec::Avc(AvcConfig {
            fourcc: *b"avc1",
            profile: 100,
            profile_compat: 0,
            level: 31,
            nalu_length_size: 4,
            sps: vec![vec![0x67, 0x64]],
            pps: vec![vec![0x68, 0xeb]],
            width: 1280,
            height: 720,
            depth: 24,
        });
        let mp3_esds = boxed(
            b"esds",
            &[
                0, 0, 0, 0, 3, 18, 0, 1, 0, 4, 13, 0x6b, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        );
        let cases: Vec<(&str, Vec<u8>, Result<Codec, ()>)> = vec![
            (
                "avc1",
                stsd(visual(b"avc1", avcc(1, &[0x68, 0xeb]))),
                Ok(good_avc),
            ),
            ("avc1 without avcC", stsd(visual(b"avc1", vec![])), Err(())),
            (
                "avcC claims 31 SPS",
                stsd(visual(b"avc1", avcc(31, &[]).split_at(20).0.to_vec())),
                Err(()),
            ),
            (
                "pps past avcC",
                stsd(visual(b"avc1", {
                    let mut b = avcc(1, &[1]);
                    b.truncate(b.len() - 1);
                    let n = b.len() as u32;
                    b[..4].copy_from_slice(&n.to_be_bytes());
                    b
                })),
                Err(()),
            ),
            (
                "short visual entry",
                stsd(boxed(b"avc1", &[0; 20])),
                Err(()),
            ),
            (
                "mp3 in mp4a",
                stsd(audio(b"mp4a", mp3_esds)),
                Ok(Codec::Mp3(AudioBasics {
                    sample_rate: 48000,
                    channels: 2,
                    sample_size: 16,
                    object_type_indication: 0x6b,
                    stream_type: 5,
                    ..Default::default()
                })),
            ),
            (
                "ac-3",
                stsd(audio(b"ac-3", vec![])),
                Ok(Codec::Ac3(AudioBasics {
                    sample_rate: 48000,
                    channels: 2,
                    sample_size: 16,
                    ..Default::default()
                })),
            ),
            // dac3: fscod 0, bsid 8, bsmod 0, acmod 2, lfe 0, bit_rate_code 10 (192 kbit/s)
            (
                "ac-3 with dac3",
                stsd(audio(b"ac-3", boxed(b"dac3", &[0x10, 0x11, 0x40]))),
                Ok(Codec::Ac3(AudioBasics {
                    sample_rate: 48000,
                    channels: 2,
                    coded_channels: 2,
                    sample_size: 16,
                    max_bitrate: 192000,
                    average_bitrate: 192000,
                    dolby_config: vec![0x10, 0x11, 0x40],
                    ..Default::default()
                })),
            ),
            // dec3: data_rate 256 kbit/s, one independent substream
            (
                "ec-3 with dec3",
                stsd(audio(
                    b"ec-3",
                    boxed(b"dec3", &[0x08, 0x00, 0x20, 0x0f, 0x00]),
                )),
                Ok(Codec::Eac3(AudioBasics {
                    sample_rate: 48000,
                    channels: 2,
                    sample_size: 16,
                    max_bitrate: 256000,
                    average_bitrate: 256000,
                    dolby_config: vec![0x08, 0x00, 0x20, 0x0f, 0x00],
                    ..Default::default()
                })),
            ),
            (
                "short dac3",
                stsd(audio(b"ac-3", boxed(b"dac3", &[0x10]))),
                Err(()),
            ),
            ("mp4a without esds", stsd(audio(b"mp4a", vec![])), Err(())),
            (
                "unknown",
                stsd(boxed(b"vp09", &[0; 80])),
                Ok(Codec::Unsupported(*b"vp09")),
            ),
            ("no entries", vec![0, 0, 0, 0, 0, 0, 0, 0], Err(())),
            (
                "entry past stsd",
                stsd(vec![0, 0, 1, 0, b'a', b'v', b'c', b'1']),
                Err(()),
            ),
        ];
        for (name, body, expected) in cases {
            let got = parse_stsd(&body).map(|(codec, _)| codec).map_err(|_| ());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn hvcc_fields() {
        let mut body = vec![
            1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
            0x0f,
        ];
        body.push(2); // arrays
        body.extend_from_slice(&[0x80 | 32, 0, 1, 0, 2, 0x40, 0x01]);
        body.extend_from_slice(&[39, 0, 1, 0, 1, 0x4e]);
        let entry = stsd(visual(b"hvc1", boxed(b"hvcC", &body)));
        let (codec, details) = parse_stsd(&entry).expect("valid hvcC");
        let Codec::Hevc(config) = codec else {
            panic!("not HEVC: {codec:?}")
        };
        assert_eq!(config.general_profile_idc, 1);
        assert_eq!(config.general_profile_compatibility_flags, 0x6000_0000);
        assert_eq!(config.general_constraint_indicator_flags, 0x9000_0000_0000);
        assert_eq!(config.general_level_idc, 93);
        assert_eq!(config.nalu_length_size, 4);
        assert_eq!(
            config.arrays,
            vec![(32, vec![vec![0x40, 0x01]]), (39, vec![vec![0x4e]])]
        );
        assert_eq!(details.hevc_array_completeness, vec![true, false]);
        assert_eq!(details.depth, 24);

        let mut huge = body.clone();
        huge[22] = 200; // 200 arrays in a few bytes
        let entry = stsd(visual(b"hvc1", boxed(b"hvcC", &huge)));
        assert!(parse_stsd(&entry).is_err());
    }
}
