//! PES packet headers (ISO/IEC 13818-1 §2.4.3.6) with 90 kHz PTS and DTS.

pub const STREAM_ID_VIDEO: u8 = 0xE0;
pub const STREAM_ID_AUDIO: u8 = 0xC0;
/// AC-3 and E-AC-3 travel as private_stream_1.
pub const STREAM_ID_PRIVATE_1: u8 = 0xBD;

/// Fixed part of the header: start code, stream id, length, two flag bytes, header length.
const FIXED_SIZE: usize = 9;
const TIMESTAMP_SIZE: usize = 5;
const MAX_PES_PACKET_LENGTH: usize = 0xFFFF;

/// Header size for a PES with a PTS and, when it differs, a DTS.
pub fn header_size(has_dts: bool) -> usize {
    FIXED_SIZE + TIMESTAMP_SIZE * if has_dts { 2 } else { 1 }
}

/// The largest payload a PES with a bounded length field can carry.
pub fn max_bounded_payload(has_dts: bool) -> usize {
    MAX_PES_PACKET_LENGTH - (header_size(has_dts) - 6)
}

/// Writes a PES header. `dts` is written only when it differs from `pts`.
/// `bounded` writes the real PES_packet_length (required for audio); video uses 0,
/// which the standard allows for video in transport streams and which has no limit.
pub fn write_header(
    out: &mut Vec<u8>,
    stream_id: u8,
    payload_len: usize,
    pts: u64,
    dts: u64,
    bounded: bool,
) {
    let has_dts = dts != pts;
    let header_data_len = header_size(has_dts) - FIXED_SIZE;
    let packet_length = 3 + header_data_len + payload_len;
    let length_field = if bounded && packet_length <= MAX_PES_PACKET_LENGTH {
        packet_length as u16
    } else {
        0
    };
    out.extend_from_slice(&[0, 0, 1, stream_id]);
    out.extend_from_slice(&length_field.to_be_bytes());
    // '10' marker, data_alignment_indicator: every PES starts an access unit.
    out.push(0x84);
    out.push(if has_dts { 0xC0 } else { 0x80 });
    out.push(header_data_len as u8);
    if has_dts {
        out.extend_from_slice(&encode_timestamp(0x3, pts));
        out.extend_from_slice(&encode_timestamp(0x1, dts));
    } else {
        out.extend_from_slice(&encode_timestamp(0x2, pts));
    }
}

/// 33-bit timestamp in the 5-byte form with marker bits.
fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & 0x1_FFFF_FFFF;
    [
        (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8 & 0x7F) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8 & 0x7F) << 1) | 1,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_timestamp(b: &[u8]) -> u64 {
        (((b[0] as u64 >> 1) & 0x07) << 30)
            | ((b[1] as u64) << 22)
            | (((b[2] as u64) >> 1) << 15)
            | ((b[3] as u64) << 7)
            | ((b[4] as u64) >> 1)
    }

    #[test]
    fn timestamps_round_trip() {
        for ts in [0u64, 1, 10000, 0x1_FFFF_FFFF, 0x1_2345_6789, 90000 * 3600] {
            let bytes = encode_timestamp(0x2, ts);
            assert_eq!(decode_timestamp(&bytes), ts, "{ts}");
            assert_eq!(bytes[0] >> 4, 0x2);
            assert_eq!(bytes[0] & 1, 1);
            assert_eq!(bytes[2] & 1, 1);
            assert_eq!(bytes[4] & 1, 1);
        }
    }

    #[test]
    fn header_shapes() {
        // (pts, dts, bounded, payload, expected size, expected length field)
        let cases = [
            (100u64, 100u64, true, 50usize, 14usize, 58u16),
            (100, 90, true, 50, 19, 63),
            (100, 90, false, 50, 19, 0),
            (100, 100, true, 70000, 14, 0),
        ];
        for (pts, dts, bounded, payload, size, length) in cases {
            let mut out = Vec::new();
            write_header(&mut out, STREAM_ID_VIDEO, payload, pts, dts, bounded);
            assert_eq!(out.len(), size);
            assert_eq!(out.len(), header_size(pts != dts));
            assert_eq!(u16::from_be_bytes([out[4], out[5]]), length);
            assert_eq!(decode_timestamp(&out[9..14]), pts);
            if pts != dts {
                assert_eq!(decode_timestamp(&out[14..19]), dts);
                assert_eq!(out[7], 0xC0);
            }
        }
    }
}
