//! Program-specific information: the PAT and PMT sections with their CRC-32
//! (ISO/IEC 13818-1 §2.4.4 and Annex A: polynomial 0x04C11DB7, no reflection,
//! initial value all ones, no final XOR).

/// One elementary stream as the PMT announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: u8,
    pub pid: u16,
    /// AC-3 needs the "AC-3" registration descriptor for some demuxers.
    pub ac3_registration: bool,
}

pub const STREAM_TYPE_MPEG1_AUDIO: u8 = 0x03;
pub const STREAM_TYPE_MPEG2_AUDIO: u8 = 0x04;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
pub const STREAM_TYPE_AVC: u8 = 0x1B;
pub const STREAM_TYPE_HEVC: u8 = 0x24;
pub const STREAM_TYPE_AC3: u8 = 0x81;
pub const STREAM_TYPE_EAC3: u8 = 0x87;

const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &byte| {
        (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ byte) as usize]
    })
}

/// The PAT section: one program pointing at `pmt_pid`.
pub fn pat_section(pmt_pid: u16) -> Vec<u8> {
    let body = [
        (PROGRAM_NUMBER >> 8) as u8,
        PROGRAM_NUMBER as u8,
        0xE0 | ((pmt_pid >> 8) as u8 & 0x1F),
        pmt_pid as u8,
    ];
    section(0x00, TRANSPORT_STREAM_ID, &body)
}

/// The PMT section for our single program.
pub fn pmt_section(pcr_pid: u16, streams: &[PmtStream]) -> Vec<u8> {
    let mut body = vec![
        0xE0 | ((pcr_pid >> 8) as u8 & 0x1F),
        pcr_pid as u8,
        0xF0,
        0x00, // program_info_length 0
    ];
    for stream in streams {
        let descriptors: &[u8] = if stream.ac3_registration {
            &[0x05, 0x04, b'A', b'C', b'-', b'3']
        } else {
            &[]
        };
        body.extend_from_slice(&[
            stream.stream_type,
            0xE0 | ((stream.pid >> 8) as u8 & 0x1F),
            stream.pid as u8,
            0xF0,
            descriptors.len() as u8,
        ]);
        body.extend_from_slice(descriptors);
    }
    section(0x02, PROGRAM_NUMBER, &body)
}

/// A long-form section: header, `body`, CRC. Bodies here are a few dozen bytes,
/// far below the 1021-byte section limit.
fn section(table_id: u8, id_extension: u16, body: &[u8]) -> Vec<u8> {
    // 5 bytes of extension header + body + 4 bytes CRC.
    let section_length = 5 + body.len() + 4;
    let mut out = Vec::with_capacity(3 + section_length);
    out.extend_from_slice(&[
        table_id,
        0xB0 | ((section_length >> 8) as u8 & 0x0F),
        section_length as u8,
        (id_extension >> 8) as u8,
        id_extension as u8,
        0xC1, // version 0, current_next_indicator 1
        0x00, // section_number
        0x00, // last_section_number
    ]);
    out.extend_from_slice(body);
    let crc = crc32_mpeg2(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_values() {
        // Check value of CRC-32/MPEG-2 for "123456789" (catalogue of CRC algorithms).
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
    }

    #[test]
    fn section_crc_over_whole_section_is_zero() {
        // A section with its CRC appended has a CRC residue of zero.
        for section in [
            pat_section(0x100),
            pmt_section(
                0x102,
                &[
                    PmtStream {
                        stream_type: STREAM_TYPE_AVC,
                        pid: 0x102,
                        ac3_registration: false,
                    },
                    PmtStream {
                        stream_type: STREAM_TYPE_AC3,
                        pid: 0x101,
                        ac3_registration: true,
                    },
                ],
            ),
        ] {
            assert_eq!(crc32_mpeg2(&section), 0, "{section:02x?}");
        }
    }

    #[test]
    fn pat_layout() {
        let pat = pat_section(0x100);
        assert_eq!(
            &pat[..12],
            &[0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xE1, 0x00]
        );
        assert_eq!(pat.len(), 16);
    }

    #[test]
    fn pmt_layout() {
        let streams = [
            PmtStream {
                stream_type: STREAM_TYPE_AVC,
                pid: 0x102,
                ac3_registration: false,
            },
            PmtStream {
                stream_type: STREAM_TYPE_AAC_ADTS,
                pid: 0x101,
                ac3_registration: false,
            },
        ];
        let pmt = pmt_section(0x102, &streams);
        let expected_len = 12 + 5 * 2 + 4;
        assert_eq!(pmt.len(), expected_len);
        assert_eq!(
            ((pmt[1] as usize & 0x0F) << 8) | pmt[2] as usize,
            expected_len - 3
        );
        assert_eq!(&pmt[8..12], &[0xE1, 0x02, 0xF0, 0x00]);
        assert_eq!(&pmt[12..17], &[0x1B, 0xE1, 0x02, 0xF0, 0x00]);
        assert_eq!(&pmt[17..22], &[0x0F, 0xE1, 0x01, 0xF0, 0x00]);
    }
}
