//! Akamai-style `hdnts` tokens: `st=<unix>~exp=<unix>~acl=<patterns>~hmac=<hex>`.
//!
//! Pure: parse, verify and make. The signed string is the token's text before `~hmac=`
//! (its fields joined by `~`, as Akamai's token libraries sign it), HMAC-SHA256 with the
//! hex-decoded key, lowercase hex. nginx checks tokens itself with
//! `nginx/casterpak-token.lua`, which follows the same rules; this module is what the
//! `casterpak token` command signs with and what the rules are tested against.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Longest token accepted; nginx's check uses the same bound.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token does not authorize a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not `name=value` fields separated by `~`, a field unknown or repeated, a number
    /// that is not one, no `exp`, no `acl`, no `hmac`, or too long.
    Malformed,
    /// The HMAC does not match under any configured key.
    BadHmac,
    /// `st` lies in the future.
    NotYetValid,
    /// `exp` has passed.
    Expired,
    /// No ACL pattern matches the request path.
    AclMismatch,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadHmac => "bad token signature",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::Expired => "token expired",
            TokenError::AclMismatch => "token does not cover this path",
        })
    }
}

impl std::error::Error for TokenError {}

/// The fields of a parsed token, borrowed from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub start: Option<u64>,
    pub expiry: u64,
    /// `!`-separated patterns; `*` matches any run of characters, `/` included.
    pub acl: &'a str,
    /// What the HMAC covers: the text before `~hmac=`.
    pub signed: &'a str,
    /// The 32 bytes of the HMAC.
    pub hmac: [u8; 32],
}

/// Parses a token's text without checking its signature or times.
pub fn parse(text: &str) -> Result<Token<'_>, TokenError> {
    if text.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let (signed, hmac_hex) = text.split_once("~hmac=").ok_or(TokenError::Malformed)?;
    let hmac = decode_hex(hmac_hex)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(TokenError::Malformed)?;
    let (mut start, mut expiry, mut acl) = (None, None, None);
    // `id` and `data` are opaque to the check but signed; anything else (`ip`, `url`)
    // would ask for a check this origin does not make, so it is refused.
    let (mut id, mut data) = (false, false);
    for field in signed.split('~') {
        let (name, value) = field.split_once('=').ok_or(TokenError::Malformed)?;
        let fresh = match name {
            "st" => start.replace(number(value)?).is_none(),
            "exp" => expiry.replace(number(value)?).is_none(),
            "acl" => acl.replace(value).is_none(),
            "id" => !std::mem::replace(&mut id, true),
            "data" => !std::mem::replace(&mut data, true),
            _ => false,
        };
        if !fresh {
            return Err(TokenError::Malformed);
        }
    }
    Ok(Token {
        start,
        expiry: expiry.ok_or(TokenError::Malformed)?,
        acl: acl.filter(|a| !a.is_empty()).ok_or(TokenError::Malformed)?,
        signed,
        hmac,
    })
}

/// Checks a token for a request of `path` (the decoded URL path) at `now` (Unix
/// seconds) against each key in turn (the key, then the alternate during rotation).
/// The signature is checked first, so a forged token learns nothing about its fields.
pub fn verify(text: &str, path: &str, now: u64, keys: &[&[u8]]) -> Result<(), TokenError> {
    let token = parse(text)?;
    let signed_by_a_key = keys.iter().any(|key| {
        let mut mac = mac(key);
        mac.update(token.signed.as_bytes());
        mac.verify_slice(&token.hmac).is_ok()
    });
    if !signed_by_a_key {
        return Err(TokenError::BadHmac);
    }
    if token.start.is_some_and(|st| now < st) {
        return Err(TokenError::NotYetValid);
    }
    if now >= token.expiry {
        return Err(TokenError::Expired);
    }
    if !token.acl.split('!').any(|p| pattern_matches(p, path)) {
        return Err(TokenError::AclMismatch);
    }
    Ok(())
}

/// A signed token valid from `start` for `window` seconds over `acl`.
pub fn make(key: &[u8], acl: &str, start: u64, window: u64) -> String {
    let signed = format!("st={start}~exp={}~acl={acl}", start.saturating_add(window));
    let mut mac = mac(key);
    mac.update(signed.as_bytes());
    format!("{signed}~hmac={}", encode_hex(&mac.finalize().into_bytes()))
}

/// Whether `pattern` (with `*` wildcards) matches the whole of `path`.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    // Greedy from the left is exact for `*`-only globs: each literal taken at its
    // earliest place leaves the most room for the ones after it.
    for literal in middle {
        match rest.find(literal) {
            Some(at) => rest = &rest[at + literal.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A key given as hex (the config's `key`, `alternate_key`).
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn number(text: &str) -> Result<u64, TokenError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    text.parse().map_err(|_| TokenError::Malformed)
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (longer ones are hashed first), so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

#[cfg(test)]
mod tests;
