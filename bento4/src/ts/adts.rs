//! Audio framing for TS: AAC access units get a 7-byte ADTS header (ISO/IEC
//! 13818-7 §6.2 / 14496-3 §1.A.2) built from the AudioSpecificConfig; MP3 and
//! AC-3 frames are self-framing and go out as they are.

use crate::media::AacConfig;

const ADTS_HEADER_SIZE: usize = 7;
/// aac_frame_length is 13 bits and counts the header.
const MAX_ADTS_FRAME: usize = (1 << 13) - 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtsError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFraming {
    /// ADTS with these fixed header fields.
    Adts {
        profile: u8,
        sampling_frequency_index: u8,
        channel_configuration: u8,
    },
    /// The samples are already elementary-stream frames (MP3, AC-3, E-AC-3).
    Raw,
}

impl AudioFraming {
    pub fn for_aac(config: &AacConfig) -> Result<AudioFraming, AdtsError> {
        let (object_type, sampling_frequency_index, channel_configuration) =
            if config.decoder_info.is_empty() {
                (
                    config.object_type,
                    config.sampling_frequency_index,
                    config.channel_configuration,
                )
            } else {
                core_of_audio_specific_config(&config.decoder_info)?
            };
        // ADTS can only name the four MPEG-2 AAC profiles (object types 1..=4).
        if !(1..=4).contains(&object_type) {
            return Err(AdtsError(format!(
                "AAC object type {object_type} cannot be carried in ADTS"
            )));
        }
        if sampling_frequency_index > 12 {
            return Err(AdtsError(format!(
                "AAC sampling frequency index {sampling_frequency_index} cannot be carried in ADTS"
            )));
        }
        if channel_configuration == 0 || channel_configuration > 7 {
            return Err(AdtsError(format!(
                "AAC channel configuration {channel_configuration} cannot be carried in ADTS"
            )));
        }
        Ok(AudioFraming::Adts {
            profile: object_type - 1,
            sampling_frequency_index,
            channel_configuration,
        })
    }

    /// Output bytes for a frame of `size` bytes.
    pub fn frame_len(&self, size: usize) -> usize {
        match self {
            AudioFraming::Adts { .. } => ADTS_HEADER_SIZE + size,
            AudioFraming::Raw => size,
        }
    }

    /// Whether a frame of `size` bytes fits this framing.
    pub fn check_frame_size(&self, size: usize) -> Result<(), AdtsError> {
        match self {
            AudioFraming::Adts { .. } if ADTS_HEADER_SIZE + size > MAX_ADTS_FRAME => Err(
                AdtsError(format!("AAC frame of {size} bytes is too large for ADTS")),
            ),
            _ => Ok(()),
        }
    }

    pub fn write_frame(&self, out: &mut Vec<u8>, frame: &[u8]) -> Result<(), AdtsError> {
        self.check_frame_size(frame.len())?;
        if let AudioFraming::Adts {
            profile,
            sampling_frequency_index,
            channel_configuration,
        } = *self
        {
            let len = ADTS_HEADER_SIZE + frame.len();
            out.extend_from_slice(&[
                0xFF,
                0xF1, // syncword end, MPEG-4, layer 0, no CRC
                (profile << 6) | (sampling_frequency_index << 2) | (channel_configuration >> 2),
                ((channel_configuration & 3) << 6) | ((len >> 11) as u8 & 0x03),
                (len >> 3) as u8,
                ((len as u8 & 0x07) << 5) | 0x1F, // buffer fullness 0x7FF: variable rate
                0xFC,
            ]);
        }
        out.extend_from_slice(frame);
        Ok(())
    }
}

/// (object type, sampling frequency index, channel configuration) of the AAC core:
/// for SBR/PS (5, 29) the object type and rate of the underlying AAC layer.
fn core_of_audio_specific_config(asc: &[u8]) -> Result<(u8, u8, u8), AdtsError> {
    let mut bits = BitReader { data: asc, pos: 0 };
    let bad = || AdtsError("AudioSpecificConfig is too short".to_string());
    let mut object_type = read_object_type(&mut bits).ok_or_else(bad)?;
    let mut frequency_index = read_frequency_index(&mut bits).ok_or_else(bad)?;
    let channels = bits.read(4).ok_or_else(bad)? as u8;
    if object_type == 5 || object_type == 29 {
        // The extension rate is the SBR output rate; ADTS carries the core rate,
        // which the first index already gave. Skip the extension index.
        let _extension = read_frequency_index(&mut bits).ok_or_else(bad)?;
        object_type = read_object_type(&mut bits).ok_or_else(bad)?;
    }
    if frequency_index == 0x0F {
        frequency_index = 0xFF;
    }
    Ok((object_type, frequency_index, channels))
}

fn read_object_type(bits: &mut BitReader) -> Option<u8> {
    let first = bits.read(5)?;
    if first == 31 {
        Some((32 + bits.read(6)?) as u8)
    } else {
        Some(first as u8)
    }
}

/// The 4-bit index; an explicit 24-bit rate (index 15) is skipped and reported as 15.
fn read_frequency_index(bits: &mut BitReader) -> Option<u8> {
    let index = bits.read(4)? as u8;
    if index == 0x0F {
        bits.read(24)?;
    }
    Some(index)
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioBasics;

    fn aac(decoder_info: &[u8]) -> AacConfig {
        AacConfig {
            object_type: 2,
            decoder_info: decoder_info.to_vec(),
            sampling_frequency: 48000,
            sampling_frequency_index: 3,
            channel_configuration: 2,
            basics: AudioBasics::default(),
        }
    }

    #[test]
    fn audio_specific_configs() {
        // (ASC bytes, expected (profile, index, channels) or None for an error)
        type Fields = Option<(u8, u8, u8)>;
        let cases: [(&[u8], Fields); 6] = [
            (&[0x11, 0x90], Some((1, 3, 2))),             // LC 48 kHz stereo
            (&[0x12, 0x10], Some((1, 4, 2))),             // LC 44.1 kHz stereo
            (&[0x2B, 0x11, 0x88, 0x00], Some((1, 6, 2))), // HE-AAC: SBR, 24k core, ext 48k, LC
            (&[0x0A, 0x10], Some((0, 4, 2))),             // Main
            (&[0xF8, 0x00], None),                        // escape object type 32+, cut short
            (&[0x11, 0x80], None),                        // channel configuration 0 (PCE)
        ];
        for (asc, expected) in cases {
            let got = AudioFraming::for_aac(&aac(asc));
            match expected {
                Some((profile, sampling_frequency_index, channel_configuration)) => assert_eq!(
                    got,
                    Ok(AudioFraming::Adts {
                        profile,
                        sampling_frequency_index,
                        channel_configuration
                    }),
                    "{asc:02x?}"
                ),
                None => assert!(got.is_err(), "{asc:02x?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn adts_header_fields() {
        let framing = AudioFraming::for_aac(&aac(&[0x11, 0x90])).unwrap();
        let frame = vec![0x21; 300];
        let mut out = Vec::new();
        framing.write_frame(&mut out, &frame).unwrap();
        assert_eq!(out.len(), 307);
        assert_eq!(framing.frame_len(300), 307);
        assert_eq!(out[0], 0xFF);
        assert_eq!(out[1] & 0xF6, 0xF0, "syncword and layer");
        assert_eq!(out[1] & 1, 1, "no CRC");
        assert_eq!(out[2] >> 6, 1, "LC profile");
        assert_eq!((out[2] >> 2) & 0x0F, 3, "48 kHz");
        let channels = ((out[2] & 1) << 2) | (out[3] >> 6);
        assert_eq!(channels, 2);
        let len = ((out[3] as usize & 3) << 11) | ((out[4] as usize) << 3) | (out[5] as usize >> 5);
        assert_eq!(len, 307);
        assert_eq!(&out[7..], &frame[..]);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let framing = AudioFraming::for_aac(&aac(&[])).unwrap();
        assert!(framing.check_frame_size(8184).is_ok());
        assert!(framing.check_frame_size(8185).is_err());
        assert!(AudioFraming::Raw.check_frame_size(100_000).is_ok());
    }
}
