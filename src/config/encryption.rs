//! `[encryption]`: titles under the listed paths are encrypted: AES-128 (HLS
//! `METHOD=AES-128`) for their TS segments, `cbcs` (SAMPLE-AES over fMP4, DASH) for
//! their CMAF files, with one key per title. The key, the `cbcs` key ID and its
//! constant IV are derived from one master key and the title's path, so every origin
//! configured with the same master key serves the same key and the same cached bytes,
//! and no key is ever stored.

use super::ConfigError;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Shortest master key accepted, in bytes (32 hex digits).
const MIN_KEY_BYTES: usize = 16;

/// Separates title keys from any other use of the master key.
const TITLE_KEY_LABEL: &[u8] = b"casterpak aes-128 title key\0";
const FINGERPRINT_LABEL: &[u8] = b"casterpak aes-128 fingerprint\0";
const KEY_ID_LABEL: &[u8] = b"casterpak cbcs key id\0";
const IV_LABEL: &[u8] = b"casterpak cbcs iv\0";

/// A title's `cbcs` protection: its key (the one its key URL answers), key ID, IV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleKeys {
    pub key: [u8; 16],
    pub kid: [u8; 16],
    pub iv: [u8; 16],
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// Hex, at least 32 digits. Empty: nothing is encrypted (then `paths` is empty).
    pub master_key: String,
    /// Title paths (relative to the media root, as in the URL after the prefix) whose
    /// segments are encrypted: `"secure"` covers `secure/a.mp4` and `secure/x/b.mp4`;
    /// `""` covers every title.
    pub paths: Vec<String>,
}

impl EncryptionConfig {
    pub fn enabled(&self) -> bool {
        !self.paths.is_empty()
    }

    /// Whether the title at `source` (path relative to the media root) is encrypted.
    pub fn covers(&self, source: &str) -> bool {
        self.paths.iter().any(|p| {
            let p = p.trim_matches('/');
            p.is_empty()
                || source
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// The AES-128 key of the title at `source`, when it is encrypted.
    pub fn key_for(&self, source: &str) -> Option<[u8; 16]> {
        if !self.covers(source) {
            return None;
        }
        let digest = self.mac(TITLE_KEY_LABEL, source.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(digest.get(..16)?);
        Some(key)
    }

    /// The `cbcs` protection of the title at `source`, when it is encrypted: the
    /// title's key ([`key_for`](Self::key_for)), and a key ID and IV of its own.
    pub fn sample_keys_for(&self, source: &str) -> Option<SampleKeys> {
        let key = self.key_for(source)?;
        let derived = |label: &[u8]| {
            let mut out = [0u8; 16];
            out.copy_from_slice(self.mac(label, source.as_bytes()).get(..16)?);
            Some(out)
        };
        Some(SampleKeys {
            key,
            kid: derived(KEY_ID_LABEL)?,
            iv: derived(IV_LABEL)?,
        })
    }

    /// What the cache's encrypted files depend on: the master key (by a one-way
    /// digest, never the key) and the paths. A change means those files must go.
    pub fn fingerprint(&self) -> String {
        if !self.enabled() {
            return String::new();
        }
        let digest = self.mac(FINGERPRINT_LABEL, b"");
        let hex = crate::token::encode_hex(digest.get(..8).unwrap_or_default());
        let mut paths: Vec<&str> = self.paths.iter().map(|p| p.trim_matches('/')).collect();
        paths.sort_unstable();
        format!("{hex} {}", paths.join("\u{1f}"))
    }

    /// The paths a [`fingerprint`](Self::fingerprint) was made over ("" gives none).
    pub fn paths_of_fingerprint(fingerprint: &str) -> Vec<String> {
        match fingerprint.split_once(' ') {
            Some((_, paths)) => paths.split('\u{1f}').map(str::to_string).collect(),
            None => Vec::new(),
        }
    }

    fn mac(&self, label: &[u8], message: &[u8]) -> Vec<u8> {
        let key = crate::token::decode_hex(&self.master_key).unwrap_or_default();
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts any key length");
        mac.update(label);
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if !self.enabled() {
            return Ok(());
        }
        match crate::token::decode_hex(&self.master_key) {
            Some(bytes) if bytes.len() >= MIN_KEY_BYTES => {}
            _ => {
                return invalid(
                    "encryption.master_key",
                    "must be at least 32 hex digits when encryption.paths is set",
                )
            }
        }
        if let Some(bad) = self
            .paths
            .iter()
            .find(|p| p.split('/').any(|c| c == "." || c == "..") || p.contains('\\'))
        {
            return invalid(
                "encryption.paths",
                &format!("{bad:?}: a path under the media root, without . or .."),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(paths: &[&str]) -> EncryptionConfig {
        EncryptionConfig {
            master_key: "00112233445566778899aabbccddeeff".into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn paths_cover_whole_components() {
        let c = config(&["secure/"]);
        assert!(c.covers("secure/a.mp4"));
        assert!(c.covers("secure/x/b.mp4"));
        assert!(!c.covers("secure2/a.mp4"));
        assert!(!c.covers("a.mp4"));
        assert!(config(&[""]).covers("a.mp4"));
        assert!(!config(&[]).covers("a.mp4"));
    }

    #[test]
    fn keys_differ_per_title_and_master_key_and_repeat() {
        let c = config(&[""]);
        let a = c.key_for("a.mp4").unwrap();
        assert_eq!(Some(a), c.key_for("a.mp4"));
        assert_ne!(Some(a), c.key_for("b.mp4"));
        let other = EncryptionConfig {
            master_key: "ffeeddccbbaa99887766554433221100".into(),
            ..c.clone()
        };
        assert_ne!(Some(a), other.key_for("a.mp4"));
        assert_eq!(None, config(&["secure"]).key_for("a.mp4"));
    }

    #[test]
    fn sample_keys_share_the_title_key_and_derive_the_rest() {
        let c = config(&[""]);
        let keys = c.sample_keys_for("a.mp4").unwrap();
        assert_eq!(Some(keys.key), c.key_for("a.mp4"));
        assert_eq!(Some(keys), c.sample_keys_for("a.mp4"));
        let b = c.sample_keys_for("b.mp4").unwrap();
        assert!(b.kid != keys.kid && b.iv != keys.iv);
        assert!(keys.kid != keys.key && keys.iv != keys.key && keys.kid != keys.iv);
        assert_eq!(None, config(&["secure"]).sample_keys_for("a.mp4"));
    }

    #[test]
    fn fingerprint_follows_key_and_paths_not_their_spelling() {
        let c = config(&["b", "a/"]);
        assert_eq!(c.fingerprint(), config(&["a", "b"]).fingerprint());
        assert_ne!(c.fingerprint(), config(&["a"]).fingerprint());
        assert!(!c.fingerprint().contains("00112233"));
        assert_eq!("", config(&[]).fingerprint());
        let paths = EncryptionConfig::paths_of_fingerprint(&c.fingerprint());
        assert_eq!(paths, ["a", "b"]);
        assert!(EncryptionConfig::paths_of_fingerprint("").is_empty());
    }

    #[test]
    fn validation_wants_a_long_key_and_plain_paths() {
        assert!(config(&["secure"]).validate().is_ok());
        assert!(config(&["../x"]).validate().is_err());
        let short = EncryptionConfig {
            master_key: "0011".into(),
            ..config(&["a"])
        };
        assert!(short.validate().is_err());
        assert!(EncryptionConfig::default().validate().is_ok());
    }
}
