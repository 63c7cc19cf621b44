//! MPEG-4 audio configuration: the `esds` descriptors (ISO/IEC 14496-1 §7.2.6) and
//! the AudioSpecificConfig inside them (ISO/IEC 14496-3 §1.6.2.1), including the
//! SBR/PS extension signalling that HE-AAC files carry after the core config.

use crate::error::Mp4Error;
use crate::mp4::boxes::Reader;

/// What the `esds` box says about the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EsDescriptor {
    pub object_type_indication: u8,
    /// The 6-bit streamType (5 = audio).
    pub stream_type: u8,
    pub buffer_size: u32,
    pub max_bitrate: u32,
    pub average_bitrate: u32,
    /// DecoderSpecificInfo bytes (the AudioSpecificConfig for AAC).
    pub decoder_info: Vec<u8>,
}

const ES_DESCRIPTOR_TAG: u8 = 3;
const DECODER_CONFIG_TAG: u8 = 4;
const DECODER_SPECIFIC_TAG: u8 = 5;

/// Reads one descriptor's tag and its expandable length (up to 4 bytes of 7 bits).
fn descriptor<'a>(reader: &mut Reader<'a>) -> Result<(u8, Reader<'a>), Mp4Error> {
    let tag = reader.u8()?;
    let mut length: usize = 0;
    for _ in 0..4 {
        let byte = reader.u8()?;
        length = (length << 7) | usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, Reader::new(reader.bytes(length)?, "esds descriptor")))
}

/// Parses the body of an `esds` box (after its FullBox header is included).
pub fn parse_esds(body: &[u8]) -> Result<EsDescriptor, Mp4Error> {
    let mut reader = Reader::new(body, "esds");
    reader.full_box()?;
    let (tag, mut es) = descriptor(&mut reader)?;
    if tag != ES_DESCRIPTOR_TAG {
        return Err(Mp4Error::Corrupt(format!(
            "esds: expected ES_Descriptor, found tag {tag}"
        )));
    }
    es.u16()?; // ES_ID
    let flags = es.u8()?;
    if flags & 0x80 != 0 {
        es.u16()?; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        let url_length = es.u8()?;
        es.skip(usize::from(url_length))?;
    }
    if flags & 0x20 != 0 {
        es.u16()?; // OCR_ES_Id
    }
    let mut out = EsDescriptor::default();
    while es.remaining() > 0 {
        let (tag, mut config) = descriptor(&mut es)?;
        if tag != DECODER_CONFIG_TAG {
            continue;
        }
        out.object_type_indication = config.u8()?;
        out.stream_type = config.u8()? >> 2;
        out.buffer_size = config.u24()?;
        out.max_bitrate = config.u32()?;
        out.average_bitrate = config.u32()?;
        while config.remaining() > 0 {
            let (tag, mut info) = descriptor(&mut config)?;
            if tag == DECODER_SPECIFIC_TAG {
                out.decoder_info = info.rest().to_vec();
                break;
            }
        }
        return Ok(out);
    }
    Err(Mp4Error::Corrupt("esds: no DecoderConfigDescriptor".into()))
}

/// The fields of an AudioSpecificConfig that players and `mp4info` care about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioSpecificConfig {
    /// The first audioObjectType (5 or 29 when SBR/PS is signalled explicitly).
    pub object_type: u8,
    pub sampling_frequency_index: u8,
    pub sampling_frequency: u32,
    pub channel_configuration: u8,
    /// The extension, explicit or after a sync word; None when nothing signals one.
    pub extension: Option<AudioExtension>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioExtension {
    pub object_type: u8,
    pub sbr_present: bool,
    pub ps_present: bool,
    /// 0 when not given.
    pub sampling_frequency: u32,
}

impl AudioSpecificConfig {
    /// The object type an RFC 6381 codecs string names: 5 (HE-AAC) or 29 (HE-AACv2)
    /// when SBR/PS is present, else the core object type.
    pub fn codecs_object_type(&self) -> u8 {
        match &self.extension {
            Some(ext) if ext.ps_present => 29,
            Some(ext) if ext.sbr_present => 5,
            _ => self.object_type,
        }
    }
}

const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Big-endian bit reader over a byte slice; reads past the end fail.
struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.bit)
    }

    fn read(&mut self, count: u32) -> Result<u32, Mp4Error> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = self
                .data
                .get(self.bit / 8)
                .ok_or_else(|| Mp4Error::Corrupt("AudioSpecificConfig too short".into()))?;
            let bit = (byte >> (7 - (self.bit % 8))) & 1;
            value = (value << 1) | u32::from(bit);
            self.bit += 1;
        }
        Ok(value)
    }

    fn object_type(&mut self) -> Result<u8, Mp4Error> {
        let value = self.read(5)?;
        let value = if value == 31 {
            32 + self.read(6)?
        } else {
            value
        };
        Ok(value as u8)
    }

    /// Returns (index, frequency); index 15 carries an explicit 24-bit frequency.
    fn frequency(&mut self) -> Result<(u8, u32), Mp4Error> {
        let index = self.read(4)? as u8;
        if index == 15 {
            return Ok((index, self.read(24)?));
        }
        let frequency = SAMPLING_FREQUENCIES
            .get(usize::from(index))
            .copied()
            .unwrap_or(0);
        Ok((index, frequency))
    }
}

/// Parses an AudioSpecificConfig. Only the parts before the extension signalling are
/// required; a config we cannot follow to its end simply reports no extension.
pub fn parse_audio_specific_config(data: &[u8]) -> Result<AudioSpecificConfig, Mp4Error> {
    let mut bits = Bits { data, bit: 0 };
    let mut config = AudioSpecificConfig {
        object_type: bits.object_type()?,
        ..Default::default()
    };
    let (index, frequency) = bits.frequency()?;
    config.sampling_frequency_index = index;
    config.sampling_frequency = frequency;
    config.channel_configuration = bits.read(4)? as u8;
    let mut core_type = config.object_type;
    if core_type == 5 || core_type == 29 {
        let (_, ext_frequency) = bits.frequency()?;
        config.extension = Some(AudioExtension {
            object_type: 5,
            sbr_present: true,
            ps_present: core_type == 29,
            sampling_frequency: ext_frequency,
        });
        core_type = bits.object_type()?;
    }
    if config.extension.is_none() {
        config.extension =
            sync_extension(&mut bits, core_type, config.channel_configuration).unwrap_or(None);
    }
    Ok(config)
}

/// Skips GASpecificConfig and reads a backward-compatible SBR/PS sync extension.
fn sync_extension(
    bits: &mut Bits<'_>,
    core_type: u8,
    channels: u8,
) -> Result<Option<AudioExtension>, Mp4Error> {
    // GASpecificConfig is only defined for these object types; others stop here.
    if !matches!(core_type, 1 | 2 | 3 | 4 | 6 | 7 | 17 | 19..=23) || channels == 0 {
        return Ok(None);
    }
    bits.read(1)?; // frameLengthFlag
    if bits.read(1)? == 1 {
        bits.read(14)?; // coreCoderDelay
    }
    let extension_flag = bits.read(1)?;
    if core_type == 6 || core_type == 20 {
        bits.read(3)?; // layerNr
    }
    if extension_flag == 1 {
        if core_type == 22 {
            bits.read(16)?; // numOfSubFrame, layer_length
        }
        if matches!(core_type, 17 | 19 | 20 | 23) {
            bits.read(3)?; // resilience flags
        }
        bits.read(1)?; // extensionFlag3
    }
    if matches!(core_type, 17 | 19..=27) {
        bits.read(2)?; // epConfig
    }
    if bits.left() < 16 || bits.read(11)? != 0x2b7 {
        return Ok(None);
    }
    let object_type = bits.object_type()?;
    let mut extension = AudioExtension {
        object_type,
        ..Default::default()
    };
    if object_type == 5 {
        extension.sbr_present = bits.read(1)? == 1;
        if extension.sbr_present {
            extension.sampling_frequency = bits.frequency()?.1;
            if bits.left() >= 12 && bits.read(11)? == 0x548 {
                extension.ps_present = bits.read(1)? == 1;
            }
        }
    }
    Ok(Some(extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_specific_configs() {
        let lc_with_sync = AudioSpecificConfig {
            object_type: 2,
            sampling_frequency_index: 3,
            sampling_frequency: 48000,
            channel_configuration: 2,
            extension: Some(AudioExtension {
                object_type: 5,
                ..Default::default()
            }),
        };
        let cases: Vec<(&str, Vec<u8>, Option<AudioSpecificConfig>, u8)> = vec![
            // What ffmpeg writes for LC stereo 48 kHz (also in the Bento4 reference).
            (
                "LC with sync extension",
                vec![0x11, 0x90, 0x56, 0xe5, 0x00],
                Some(lc_with_sync),
                2,
            ),
            (
                "plain LC 44.1k mono",
                vec![0x12, 0x08],
                Some(AudioSpecificConfig {
                    object_type: 2,
                    sampling_frequency_index: 4,
                    sampling_frequency: 44100,
                    channel_configuration: 1,
                    extension: None,
                }),
                2,
            ),
            (
                // AOT 5, 24 kHz core, stereo, extension 48 kHz, then core AOT 2.
                "explicit HE-AAC",
                vec![0x2b, 0x11, 0x88, 0x00],
                Some(AudioSpecificConfig {
                    object_type: 5,
                    sampling_frequency_index: 6,
                    sampling_frequency: 24000,
                    channel_configuration: 2,
                    extension: Some(AudioExtension {
                        object_type: 5,
                        sbr_present: true,
                        ps_present: false,
                        sampling_frequency: 48000,
                    }),
                }),
                5,
            ),
            ("one byte", vec![0x11], None, 0),
            ("empty", vec![], None, 0),
        ];
        for (name, data, expected, codecs_type) in cases {
            let got = parse_audio_specific_config(&data).ok();
            assert_eq!(got, expected, "{name}");
            if let Some(got) = got {
                assert_eq!(got.codecs_object_type(), codecs_type, "{name}");
            }
        }
    }

    fn esds_body(decoder_config: &[u8]) -> Vec<u8> {
        let mut es = vec![0, 1, 0]; // ES_ID 1, no flags
        es.push(DECODER_CONFIG_TAG);
        es.push(decoder_config.len() as u8);
        es.extend_from_slice(decoder_config);
        let mut body = vec![
            0,
            0,
            0,
            0,
            ES_DESCRIPTOR_TAG,
            0x80,
            0x80,
            0x80,
            es.len() as u8,
        ];
        body.extend_from_slice(&es);
        body
    }

    #[test]
    fn esds_cases() {
        let mut config = vec![0x40, 0x15, 0, 0, 0];
        config.extend_from_slice(&128000u32.to_be_bytes());
        config.extend_from_slice(&127999u32.to_be_bytes());
        config.extend_from_slice(&[DECODER_SPECIFIC_TAG, 2, 0x12, 0x10]);
        let good = esds_body(&config);
        let expected = EsDescriptor {
            object_type_indication: 0x40,
            stream_type: 5,
            buffer_size: 0,
            max_bitrate: 128000,
            average_bitrate: 127999,
            decoder_info: vec![0x12, 0x10],
        };
        let mut long_length = good.clone();
        long_length[8] = 0x7f; // ES_Descriptor claims more than the box holds
        let cases: Vec<(&str, Vec<u8>, Option<EsDescriptor>)> = vec![
            ("good", good.clone(), Some(expected)),
            ("descriptor past the box", long_length, None),
            ("truncated", good[..12].to_vec(), None),
            ("empty", vec![], None),
            ("wrong tag", vec![0, 0, 0, 0, 9, 0], None),
        ];
        for (name, body, expected) in cases {
            assert_eq!(parse_esds(&body).ok(), expected, "{name}");
        }
    }
}
