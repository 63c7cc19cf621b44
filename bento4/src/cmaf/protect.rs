//! `cbcs` protection of CMAF files (ISO/IEC 23001-7, the scheme Apple's SAMPLE-AES for
//! fMP4 and DASH players share): AES-128-CBC with one constant IV per track, video in
//! a 1:9 pattern (one 16-byte block encrypted, nine left clear) over the body of each
//! video NAL unit, audio whole-sample (every full block). Pure: bytes in, bytes out.
//!
//! Video: each VCL NAL unit keeps its length field, its header and the next 32 bytes
//! clear (Apple's SAMPLE-AES rule, which covers the slice header of the streams we
//! see); what follows, down to a multiple of 16 bytes, is protected, and the
//! remainder goes into the next subsample's clear bytes, so every protected run is
//! whole blocks. Non-VCL NAL units (parameter sets, SEI, AUD) stay clear. The IV is
//! reset at each subsample and the CBC chain runs through the encrypted blocks of
//! that subsample, as the scheme says.

use super::boxes::{boxed, full, u32_be};
use aes::cipher::{BlockEncrypt, KeyInit};

/// One track's protection: key, key ID and constant IV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cbcs {
    pub key: [u8; 16],
    pub kid: [u8; 16],
    pub iv: [u8; 16],
}

/// Bytes after a VCL NAL header left clear.
const CLEAR_LEADER: usize = 32;
/// Video's pattern: encrypted blocks, skipped blocks.
const VIDEO_PATTERN: (u8, u8) = (1, 9);
/// W3C's Common PSSH system (what ClearKey and `cenc` key IDs use).
const COMMON_SYSTEM_ID: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];

/// One subsample of a protected sample: clear bytes, then protected bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

/// A sample entry (`avc1`, `hvc1`, `mp4a`, as [`super::entry`] writes it) turned into
/// its protected form: type `encv`/`enca`, a `sinf` naming the original format, the
/// scheme and the track's `tenc` appended.
pub fn protected_entry(entry: &[u8], video: bool, cbcs: &Cbcs) -> Vec<u8> {
    let (Some(original), Some(body)) = (entry.get(4..8), entry.get(8..)) else {
        return entry.to_vec();
    };
    let mut out = Vec::with_capacity(entry.len() + 80);
    boxed(&mut out, if video { b"encv" } else { b"enca" }, |out| {
        out.extend_from_slice(body);
        boxed(out, b"sinf", |out| {
            boxed(out, b"frma", |out| out.extend_from_slice(original));
            full(out, b"schm", 0, 0, |out| {
                out.extend_from_slice(b"cbcs");
                u32_be(out, 0x0001_0000);
            });
            boxed(out, b"schi", |out| tenc(out, video, cbcs));
        });
    });
    out
}

fn tenc(out: &mut Vec<u8>, video: bool, cbcs: &Cbcs) {
    // Version 1 carries the pattern; audio has none (every block).
    full(out, b"tenc", 1, 0, |out| {
        let (crypt, skip) = if video { VIDEO_PATTERN } else { (0, 0) };
        out.push(0);
        out.push((crypt << 4) | skip);
        out.push(1); // protected
        out.push(0); // no per-sample IV: the constant one below
        out.extend_from_slice(&cbcs.kid);
        out.push(16);
        out.extend_from_slice(&cbcs.iv);
    });
}

/// A `pssh` of the Common system naming the key ID (version 1, no data).
pub fn pssh(out: &mut Vec<u8>, kid: &[u8; 16]) {
    full(out, b"pssh", 1, 0, |out| {
        out.extend_from_slice(&COMMON_SYSTEM_ID);
        u32_be(out, 1);
        out.extend_from_slice(kid);
        u32_be(out, 0);
    });
}

/// Encrypts a video sample (NAL units, each after a `length_size`-byte length) in
/// place; returns its subsamples. `hevc` picks the NAL header size and type rule.
pub fn encrypt_video_sample(
    sample: &mut [u8],
    length_size: u8,
    hevc: bool,
    cbcs: &Cbcs,
) -> Result<Vec<Subsample>, String> {
    let length_size = usize::from(length_size);
    if !(1..=4).contains(&length_size) {
        return Err(format!("NAL length size {length_size}"));
    }
    let header = if hevc { 2 } else { 1 };
    let cipher = aes::Aes128::new(&cbcs.key.into());
    let mut subsamples = Vec::new();
    let mut clear = 0usize;
    let mut at = 0usize;
    while at < sample.len() {
        let length = sample
            .get(at..at + length_size)
            .ok_or("a NAL length past the sample")?
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let start = at + length_size;
        let end = start
            .checked_add(length)
            .filter(|&e| e <= sample.len())
            .ok_or("a NAL unit past the sample")?;
        let vcl = sample.get(start).is_some_and(|&b| {
            if hevc {
                (b >> 1) & 0x3f < 32
            } else {
                matches!(b & 0x1f, 1..=5)
            }
        });
        let leader = length_size + header + CLEAR_LEADER;
        let protected = if vcl && end - at > leader {
            (end - at - leader) / 16 * 16
        } else {
            0
        };
        if protected == 0 {
            clear += end - at;
        } else {
            clear += leader;
            let from = at + leader;
            pattern_encrypt(&cipher, &cbcs.iv, &mut sample[from..from + protected]);
            push_subsample(&mut subsamples, clear, protected);
            // The tail short of a block is clear, at the head of the next subsample.
            clear = end - (from + protected);
        }
        at = end;
    }
    if clear > 0 {
        push_subsample(&mut subsamples, clear, 0);
    }
    Ok(subsamples)
}

/// Encrypts an audio sample in place: every full block, one CBC chain from the IV.
pub fn encrypt_audio_sample(sample: &mut [u8], cbcs: &Cbcs) {
    let cipher = aes::Aes128::new(&cbcs.key.into());
    let whole = sample.len() / 16 * 16;
    let mut chain = cbcs.iv;
    for block in sample[..whole].chunks_exact_mut(16) {
        encrypt_block(&cipher, &mut chain, block);
    }
}

/// The 1:9 pattern over `data` (whole blocks), the chain starting from `iv`.
fn pattern_encrypt(cipher: &aes::Aes128, iv: &[u8; 16], data: &mut [u8]) {
    let (crypt, skip) = (usize::from(VIDEO_PATTERN.0), usize::from(VIDEO_PATTERN.1));
    let mut chain = *iv;
    for (i, block) in data.chunks_exact_mut(16).enumerate() {
        if i % (crypt + skip) < crypt {
            encrypt_block(cipher, &mut chain, block);
        }
    }
}

/// CBC: `block` XOR the chain, encrypted; the result is the next chain value.
fn encrypt_block(cipher: &aes::Aes128, chain: &mut [u8; 16], block: &mut [u8]) {
    for (b, c) in block.iter_mut().zip(chain.iter()) {
        *b ^= c;
    }
    let mut array = aes::Block::clone_from_slice(block);
    cipher.encrypt_block(&mut array);
    block.copy_from_slice(&array);
    chain.copy_from_slice(&array);
}

/// Appends (clear, protected), splitting clear runs past `u16` into clear-only ones.
fn push_subsample(out: &mut Vec<Subsample>, mut clear: usize, protected: usize) {
    while clear > usize::from(u16::MAX) {
        out.push(Subsample {
            clear: u16::MAX,
            protected: 0,
        });
        clear -= usize::from(u16::MAX);
    }
    out.push(Subsample {
        clear: clear as u16,
        protected: protected as u32,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecrypt;

    const CBCS: Cbcs = Cbcs {
        key: [0x11; 16],
        kid: [0x22; 16],
        iv: [0x33; 16],
    };

    fn decrypt_block(cipher: &aes::Aes128, chain: &mut [u8; 16], block: &mut [u8]) {
        let cipher_text: [u8; 16] = block.try_into().unwrap();
        let mut array = aes::Block::clone_from_slice(block);
        cipher.decrypt_block(&mut array);
        for (b, (p, c)) in block.iter_mut().zip(array.iter().zip(chain.iter())) {
            *b = p ^ c;
        }
        *chain = cipher_text;
    }

    /// What a decryptor does with the subsamples: the inverse, checked by hand.
    fn decrypt_video(sample: &mut [u8], subsamples: &[Subsample]) {
        let cipher = aes::Aes128::new(&CBCS.key.into());
        let mut at = 0;
        for s in subsamples {
            at += usize::from(s.clear);
            let mut chain = CBCS.iv;
            let data = &mut sample[at..at + s.protected as usize];
            for (i, block) in data.chunks_exact_mut(16).enumerate() {
                if i % 10 == 0 {
                    decrypt_block(&cipher, &mut chain, block);
                }
            }
            at += s.protected as usize;
        }
        assert_eq!(at, sample.len(), "subsamples cover the sample");
    }

    fn nal(kind: u8, len: usize) -> Vec<u8> {
        let mut out = (len as u32).to_be_bytes().to_vec();
        out.push(kind);
        out.extend((1..len).map(|i| (i * 7) as u8));
        out
    }

    #[test]
    fn video_keeps_headers_and_non_vcl_clear_and_round_trips() {
        // SPS (clear), an IDR slice of 400 bytes, a short slice (all clear).
        let clear = [nal(0x67, 20), nal(0x65, 400), nal(0x41, 30)].concat();
        let mut sample = clear.clone();
        let subsamples = encrypt_video_sample(&mut sample, 4, false, &CBCS).unwrap();
        // 24 clear (SPS) + 4 + 1 + 32 leader; 400 - 33 = 367 → 352 protected.
        assert_eq!(
            subsamples,
            [
                Subsample {
                    clear: 24 + 37,
                    protected: 352
                },
                Subsample {
                    clear: 15 + 34,
                    protected: 0
                },
            ]
        );
        assert_eq!(sample[..61], clear[..61], "headers stay clear");
        assert_ne!(
            sample[61..77],
            clear[61..77],
            "the first block is encrypted"
        );
        assert_eq!(sample[77..221], clear[77..221], "nine blocks skipped");
        assert_ne!(sample[221..237], clear[221..237]);
        decrypt_video(&mut sample, &subsamples);
        assert_eq!(sample, clear);
    }

    #[test]
    fn hevc_vcl_types_and_long_clear_runs() {
        // HEVC: type 19 (IDR) is VCL, 39 (SEI) is not; a clear run past 65535 splits.
        let idr = nal(19 << 1, 200);
        let sei = nal(39 << 1, 70_000);
        let clear = [sei, idr].concat();
        let mut sample = clear.clone();
        let subsamples = encrypt_video_sample(&mut sample, 4, true, &CBCS).unwrap();
        assert_eq!(
            subsamples[0],
            Subsample {
                clear: u16::MAX,
                protected: 0
            }
        );
        let total: usize = subsamples
            .iter()
            .map(|s| usize::from(s.clear) + s.protected as usize)
            .sum();
        assert_eq!(total, sample.len());
        assert!(subsamples.iter().any(|s| s.protected > 0));
        decrypt_video(&mut sample, &subsamples);
        assert_eq!(sample, clear);
    }

    #[test]
    fn a_broken_sample_is_refused() {
        let mut short = vec![0, 0, 1, 0, 0x65];
        assert!(encrypt_video_sample(&mut short, 4, false, &CBCS).is_err());
        assert!(encrypt_video_sample(&mut [0, 0], 4, false, &CBCS).is_err());
        assert!(encrypt_video_sample(&mut [0, 1, 0x65], 0, false, &CBCS).is_err());
    }

    #[test]
    fn audio_is_every_full_block_in_one_chain() {
        let clear: Vec<u8> = (0..70u8).collect();
        let mut sample = clear.clone();
        encrypt_audio_sample(&mut sample, &CBCS);
        assert_eq!(sample[64..], clear[64..], "the partial block stays clear");
        let cipher = aes::Aes128::new(&CBCS.key.into());
        let mut chain = CBCS.iv;
        for block in sample[..64].chunks_exact_mut(16) {
            decrypt_block(&cipher, &mut chain, block);
        }
        assert_eq!(sample, clear);
    }

    #[test]
    fn the_entry_names_its_format_scheme_and_key() {
        let entry = [&[0, 0, 0, 12][..], b"avc1", &[9, 9, 9, 9]].concat();
        let out = protected_entry(&entry, true, &CBCS);
        assert_eq!(&out[4..8], b"encv");
        assert_eq!(
            u32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
            out.len()
        );
        assert_eq!(&out[8..12], &[9, 9, 9, 9]);
        let rest = &out[12..];
        assert_eq!(&rest[4..8], b"sinf");
        assert!(rest.windows(8).any(|w| w == b"frmaavc1"));
        assert!(rest.windows(4).any(|w| w == b"cbcs"));
        // tenc: pattern 1:9, protected, constant IV of 16 after the key ID.
        let at = rest.windows(4).position(|w| w == b"tenc").unwrap() + 4;
        assert_eq!(&rest[at..at + 8], &[1, 0, 0, 0, 0, 0x19, 1, 0]);
        assert_eq!(&rest[at + 8..at + 24], &CBCS.kid);
        assert_eq!(rest[at + 24], 16);
        assert_eq!(&rest[at + 25..at + 41], &CBCS.iv);
    }
}
