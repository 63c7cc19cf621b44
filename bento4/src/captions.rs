//! CEA-608 closed captions carried in the video (ATSC A/53 Part 4 `cc_data` in
//! `user_data_registered_itu_t_t35` SEI messages, "GA94"), found in H.264 and HEVC
//! samples: what a master's `CLOSED-CAPTIONS` needs. Pure: sample bytes in.

/// Which CEA-608 fields a sample's SEI carries data for (field 1: CC1/CC2, field 2:
/// CC3/CC4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cea608 {
    pub field1: bool,
    pub field2: bool,
}

impl Cea608 {
    pub fn any(self) -> bool {
        self.field1 || self.field2
    }

    pub fn or(self, other: Cea608) -> Cea608 {
        Cea608 {
            field1: self.field1 || other.field1,
            field2: self.field2 || other.field2,
        }
    }
}

/// The CEA-608 fields in one sample: length-prefixed NAL units (`nalu_length_size`
/// bytes each), H.264 (SEI type 6) or HEVC (`hevc`: prefix SEI type 39).
pub fn in_sample(sample: &[u8], nalu_length_size: u8, hevc: bool) -> Cea608 {
    let width = usize::from(nalu_length_size);
    let mut found = Cea608::default();
    let mut rest = sample;
    while width > 0 && rest.len() > width {
        let length = rest[..width].iter().fold(0usize, |n, &b| {
            n.saturating_mul(256).saturating_add(usize::from(b))
        });
        let Some(nal) = rest.get(width..width.saturating_add(length)) else {
            break;
        };
        rest = &rest[width + length..];
        let header = if hevc { 2 } else { 1 };
        let is_sei = match nal.first() {
            Some(&b) if hevc => (b >> 1) & 0x3f == 39,
            Some(&b) => b & 0x1f == 6,
            None => false,
        };
        if is_sei && nal.len() > header {
            found = found.or(in_sei(&unescape(&nal[header..])));
        }
    }
    found
}

/// The RBSP of a NAL unit's payload: emulation prevention bytes (`00 00 03`) removed.
fn unescape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The CEA-608 fields in the messages of one SEI RBSP.
fn in_sei(rbsp: &[u8]) -> Cea608 {
    let mut found = Cea608::default();
    let mut at = 0;
    // Each message: payloadType and payloadSize as runs of 0xFF plus a last byte.
    let read_value = |at: &mut usize| -> Option<usize> {
        let mut value = 0usize;
        loop {
            let b = *rbsp.get(*at)?;
            *at += 1;
            value = value.saturating_add(usize::from(b));
            if b != 0xff {
                return Some(value);
            }
        }
    };
    // The trailing bits (0x80) end the messages.
    while rbsp.get(at).is_some_and(|&b| b != 0x80) {
        let (Some(kind), Some(size)) = (read_value(&mut at), read_value(&mut at)) else {
            break;
        };
        let Some(payload) = rbsp.get(at..at.saturating_add(size)) else {
            break;
        };
        at += size;
        if kind == 4 {
            found = found.or(in_t35(payload));
        }
    }
    found
}

/// `user_data_registered_itu_t_t35` holding ATSC `cc_data`: country 0xB5 (USA),
/// provider 0x0031, "GA94", type 3, then `cc_count` triplets whose `cc_valid` and
/// `cc_type` (0: field 1, 1: field 2; 2 and 3 are CEA-708) say what is there.
fn in_t35(payload: &[u8]) -> Cea608 {
    let mut found = Cea608::default();
    let Some(rest) = payload.strip_prefix(&[0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03]) else {
        return found;
    };
    let Some((&flags, rest)) = rest.split_first() else {
        return found;
    };
    if flags & 0x40 == 0 {
        return found; // process_cc_data_flag off
    }
    let count = usize::from(flags & 0x1f);
    let triplets = rest.get(1..).unwrap_or_default(); // after the reserved em_data byte
    for triplet in triplets.chunks_exact(3).take(count) {
        let valid = triplet[0] & 0x04 != 0;
        match (valid, triplet[0] & 0x03) {
            (true, 0) => found.field1 = true,
            (true, 1) => found.field2 = true,
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An H.264 sample with a GA94 SEI of `triplets`, then a slice NAL.
    fn sample(triplets: &[[u8; 3]]) -> Vec<u8> {
        let mut payload = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03];
        payload.push(0xc0 | triplets.len() as u8);
        payload.push(0xff);
        for t in triplets {
            payload.extend_from_slice(t);
        }
        payload.push(0xff);
        let mut sei = vec![0x06, 4, payload.len() as u8];
        sei.extend_from_slice(&payload);
        sei.push(0x80);
        let slice = [0x65, 0x88, 0x84, 0x00];
        let mut out = Vec::new();
        for nal in [&sei[..], &slice[..]] {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn ga94_608_data_is_found_per_field() {
        let both = in_sample(&sample(&[[0xfc, 0x94, 0x20], [0xfd, 0x80, 0x80]]), 4, false);
        assert_eq!(
            both,
            Cea608 {
                field1: true,
                field2: true
            }
        );
        let first = in_sample(&sample(&[[0xfc, 0x80, 0x80]]), 4, false);
        assert_eq!(
            first,
            Cea608 {
                field1: true,
                field2: false
            }
        );
        // Not valid, or CEA-708 (types 2 and 3): no 608 channel.
        let none = in_sample(
            &sample(&[[0xf8, 0x94, 0x20], [0xfe, 0x01, 0x02], [0xff, 0, 0]]),
            4,
            false,
        );
        assert!(!none.any());
        assert!(!in_sample(&[0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00], 4, false).any());
    }

    #[test]
    fn escapes_lengths_and_damage() {
        assert_eq!(
            unescape(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            [0, 0, 1, 0, 0, 0, 3]
        );
        let good = sample(&[[0xfc, 0x94, 0x20]]);
        for cut in 0..good.len() {
            // Never panics, never reads past what it was given.
            let _ = in_sample(&good[..cut], 4, false);
        }
        assert!(!in_sample(&good, 0, false).any());
        // An HEVC prefix SEI (type 39, two-byte header).
        let mut hevc = good.clone();
        hevc.splice(4..5, [39 << 1, 1]);
        hevc[3] += 1;
        assert!(in_sample(&hevc, 4, true).field1);
    }
}
