//! AES-128-CBC with PKCS#7 padding over whole segments (RFC 8216 §4.3.2.4,
//! METHOD=AES-128), with the IV either the media sequence number or given.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};

type Encryptor = cbc::Encryptor<aes::Aes128>;

/// Size of `clear_len` bytes once padded: PKCS#7 always adds 1..=16 bytes.
pub fn encrypted_len(clear_len: u64) -> u64 {
    (clear_len / 16 + 1) * 16
}

/// The sequence-mode IV: the segment's media sequence number, big-endian, 16 bytes.
pub fn sequence_iv(number: u64) -> [u8; 16] {
    u128::from(number).to_be_bytes()
}

/// Encrypts `data` in place (it grows by the padding).
pub fn encrypt_in_place(data: &mut Vec<u8>, key: &[u8; 16], iv: &[u8; 16]) {
    let clear_len = data.len();
    data.resize(encrypted_len(clear_len as u64) as usize, 0);
    let encryptor = Encryptor::new(key.into(), iv.into());
    // The buffer was sized for the padding above, so this cannot fail; keep the
    // clear text rather than panic if it ever did.
    if encryptor
        .encrypt_padded_mut::<Pkcs7>(data, clear_len)
        .is_err()
    {
        data.truncate(clear_len);
    }
}

/// Parses a 32-digit hex key (or IV).
pub fn parse_key(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 16];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nist_sp800_38a_cbc_vector() {
        // NIST SP 800-38A F.2.1, CBC-AES128 first block; PKCS#7 then adds a full block.
        let key = parse_key("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let iv = parse_key("000102030405060708090a0b0c0d0e0f").unwrap();
        let mut data = parse_key("6bc1bee22e409f96e93d7e117393172a")
            .unwrap()
            .to_vec();
        encrypt_in_place(&mut data, &key, &iv);
        assert_eq!(data.len(), 32);
        assert_eq!(
            crate::hls::hex(&data[..16]),
            "7649abac8119b246cee98e9b12e9197d"
        );
    }

    #[test]
    fn lengths_and_ivs() {
        for (clear, padded) in [(0u64, 16u64), (1, 16), (15, 16), (16, 32), (188, 192)] {
            assert_eq!(encrypted_len(clear), padded);
            let mut data = vec![7u8; clear as usize];
            encrypt_in_place(&mut data, &[1; 16], &[2; 16]);
            assert_eq!(data.len() as u64, padded);
        }
        assert_eq!(sequence_iv(1)[15], 1);
        assert_eq!(sequence_iv(0x0102)[14..], [1, 2]);
    }

    #[test]
    fn key_parsing() {
        assert!(parse_key("00112233445566778899aabbccddeeff").is_some());
        assert!(parse_key("00112233445566778899aabbccddeef").is_none());
        assert!(parse_key("00112233445566778899aabbccddeeXX").is_none());
        assert!(parse_key("ééééééééééééééééé").is_none());
    }
}
