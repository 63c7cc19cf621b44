//! Transport packets: header, adaptation field (PCR, random access, stuffing) and
//! the packetization of one PES. The packet count depends only on the PES length
//! and on what the first packet's adaptation field must carry, which is what makes
//! segment sizes computable from the MP4 index.

pub const PACKET_SIZE: usize = 188;
const HEADER_SIZE: usize = 4;
const BODY_SIZE: usize = PACKET_SIZE - HEADER_SIZE;
const SYNC_BYTE: u8 = 0x47;
/// Adaptation field bytes that a PCR needs: length, flags and the 6-byte PCR.
pub const PCR_FIELD_SIZE: usize = 8;
/// Adaptation field bytes for flags alone (length + flags).
const FLAGS_FIELD_SIZE: usize = 2;

/// What the adaptation field of a PES's first packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirstPacketFlags {
    /// Program clock reference (27 MHz base in 90 kHz units; the extension is 0).
    pub pcr: Option<u64>,
    /// Set on packets that start a keyframe, so a demuxer can start there.
    pub random_access: bool,
}

impl FirstPacketFlags {
    /// Adaptation field bytes the first packet needs before any stuffing.
    pub fn min_field_size(&self) -> usize {
        if self.pcr.is_some() {
            PCR_FIELD_SIZE
        } else if self.random_access {
            FLAGS_FIELD_SIZE
        } else {
            0
        }
    }
}

/// Number of packets a PES of `pes_len` bytes takes (always at least one).
pub fn packet_count(pes_len: usize, first: FirstPacketFlags) -> usize {
    let first_room = BODY_SIZE - first.min_field_size();
    if pes_len <= first_room {
        1
    } else {
        1 + (pes_len - first_room).div_ceil(BODY_SIZE)
    }
}

/// Writes `pes` as transport packets on `pid`, stuffing the last packet with an
/// adaptation field. `continuity` is the PID's counter, advanced per packet.
pub fn write_pes_packets(
    out: &mut Vec<u8>,
    pid: u16,
    continuity: &mut u8,
    first: FirstPacketFlags,
    pes: &[u8],
) {
    let mut rest = pes;
    let mut is_first = true;
    while is_first || !rest.is_empty() {
        let min_field = if is_first { first.min_field_size() } else { 0 };
        let take = rest.len().min(BODY_SIZE - min_field);
        let field_size = BODY_SIZE - take;
        let pusi = if is_first { 0x40 } else { 0 };
        let control = if field_size > 0 { 0x30 } else { 0x10 };
        out.extend_from_slice(&[
            SYNC_BYTE,
            pusi | ((pid >> 8) as u8 & 0x1F),
            pid as u8,
            control | (*continuity & 0x0F),
        ]);
        *continuity = (*continuity + 1) & 0x0F;
        if field_size > 0 {
            let flags = if is_first {
                first
            } else {
                FirstPacketFlags::default()
            };
            write_adaptation_field(out, field_size, flags);
        }
        let (now, later) = rest.split_at(take);
        out.extend_from_slice(now);
        rest = later;
        is_first = false;
    }
}

/// Writes an adaptation field of exactly `size` bytes (length byte included).
fn write_adaptation_field(out: &mut Vec<u8>, size: usize, flags: FirstPacketFlags) {
    // size is at most 184, so the length byte cannot overflow.
    out.push((size - 1) as u8);
    if size == 1 {
        return;
    }
    let mut flag_byte = 0u8;
    if flags.random_access {
        flag_byte |= 0x40;
    }
    if flags.pcr.is_some() {
        flag_byte |= 0x10;
    }
    out.push(flag_byte);
    let mut used = FLAGS_FIELD_SIZE;
    if let Some(pcr) = flags.pcr {
        out.extend_from_slice(&encode_pcr(pcr));
        used = PCR_FIELD_SIZE;
    }
    out.resize(out.len() + (size - used), 0xFF);
}

/// PCR base (33 bits, 90 kHz), 6 reserved bits, extension 0.
fn encode_pcr(base: u64) -> [u8; 6] {
    let base = base & 0x1_FFFF_FFFF;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E,
        0,
    ]
}

/// Writes one packet holding a PSI section (pointer field 0, 0xFF filler).
pub fn write_section_packet(out: &mut Vec<u8>, pid: u16, continuity: &mut u8, section: &[u8]) {
    out.extend_from_slice(&[
        SYNC_BYTE,
        0x40 | ((pid >> 8) as u8 & 0x1F),
        pid as u8,
        0x10 | (*continuity & 0x0F),
    ]);
    *continuity = (*continuity + 1) & 0x0F;
    out.push(0);
    let body = &section[..section.len().min(BODY_SIZE - 1)];
    out.extend_from_slice(body);
    out.resize(out.len() + (BODY_SIZE - 1 - body.len()), 0xFF);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PCR: FirstPacketFlags = FirstPacketFlags {
        pcr: Some(12345),
        random_access: true,
    };
    const PLAIN: FirstPacketFlags = FirstPacketFlags {
        pcr: None,
        random_access: false,
    };

    #[test]
    fn packet_count_matches_what_is_written() {
        let lens = [
            1usize, 175, 176, 177, 183, 184, 185, 360, 367, 368, 369, 5000,
        ];
        for flags in [
            PCR,
            PLAIN,
            FirstPacketFlags {
                pcr: None,
                random_access: true,
            },
        ] {
            for len in lens {
                let pes = vec![0xAB; len];
                let mut out = Vec::new();
                let mut cc = 0;
                write_pes_packets(&mut out, 0x102, &mut cc, flags, &pes);
                assert_eq!(out.len() % PACKET_SIZE, 0, "len {len}");
                assert_eq!(
                    out.len() / PACKET_SIZE,
                    packet_count(len, flags),
                    "len {len} {flags:?}"
                );
                assert_eq!(cc as usize, packet_count(len, flags) % 16);
                // Every payload byte is there, in order.
                let payload: usize = out.chunks(PACKET_SIZE).map(|p| payload_of(p).len()).sum();
                assert_eq!(payload, len);
            }
        }
    }

    fn payload_of(packet: &[u8]) -> &[u8] {
        let has_field = packet[3] & 0x20 != 0;
        let start = if has_field { 5 + packet[4] as usize } else { 4 };
        &packet[start..]
    }

    #[test]
    fn header_fields_and_pcr() {
        let mut out = Vec::new();
        let mut cc = 15;
        write_pes_packets(&mut out, 0x101, &mut cc, PCR, &[1, 2, 3]);
        assert_eq!(&out[..4], &[0x47, 0x41, 0x01, 0x3F]);
        assert_eq!(out[4] as usize, 183 - 3, "field fills the packet");
        assert_eq!(out[5], 0x50, "random access + PCR flags");
        let pcr = ((out[6] as u64) << 25)
            | ((out[7] as u64) << 17)
            | ((out[8] as u64) << 9)
            | ((out[9] as u64) << 1)
            | ((out[10] as u64) >> 7);
        assert_eq!(pcr, 12345);
        assert_eq!(&out[185..], &[1, 2, 3]);
        assert_eq!(cc, 0, "counter wraps");
    }

    #[test]
    fn one_byte_field_when_183_bytes_remain() {
        let mut out = Vec::new();
        let mut cc = 0;
        write_pes_packets(&mut out, 0x100, &mut cc, PLAIN, &[7; 183]);
        assert_eq!(out[3] & 0x30, 0x30);
        assert_eq!(out[4], 0, "length-only adaptation field");
        assert_eq!(out.len(), 188);
    }

    #[test]
    fn section_packet_is_padded() {
        let mut out = Vec::new();
        let mut cc = 3;
        write_section_packet(&mut out, 0, &mut cc, &[0, 0xB0, 0x0D]);
        assert_eq!(out.len(), 188);
        assert_eq!(&out[..8], &[0x47, 0x40, 0x00, 0x13, 0, 0, 0xB0, 0x0D]);
        assert!(out[8..].iter().all(|&b| b == 0xFF));
        assert_eq!(cc, 4);
    }
}
