//! Unit tests of token parsing, checking and signing. The two signatures below were
//! computed with `openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY` over the signed
//! string (tests/e2e/token.rs computes more the same way at run time).

use super::*;

const KEY: &str = "52a152a152a152a152a152a152a152a152a152a152a152a152a152a152a152a1";
const OPENSSL_SIGNED: &str =
    "st=1700000000~exp=1700003600~acl=/i/*~hmac=6e507099f09a1802e59fdaacb36378726c799a3d91536774315fbbadca97b6ed";
const OPENSSL_SIGNED_LIST: &str = "st=1700000000~exp=1700003600~acl=/i/clip_*!/i/other/*~id=abc~hmac=612da75fdea15b7d6cf295a7f02ba8ad45cbdd0d882bc81e56616a8c8f949584";

fn key() -> Vec<u8> {
    decode_hex(KEY).unwrap()
}

#[test]
fn make_signs_as_openssl_does() {
    assert_eq!(make(&key(), "/i/*", 1_700_000_000, 3600), OPENSSL_SIGNED);
}

#[test]
fn a_token_signed_elsewhere_verifies() {
    let k = key();
    assert_eq!(
        verify(
            OPENSSL_SIGNED,
            "/i/a/b.mp4/master.m3u8",
            1_700_000_001,
            &[&k]
        ),
        Ok(())
    );
    let other = decode_hex("0f0e0d0c").unwrap();
    for path in ["/i/clip_,low,.mp4.csmil/master.m3u8", "/i/other/x.ts"] {
        assert_eq!(
            verify(OPENSSL_SIGNED_LIST, path, 1_700_000_000, &[&other]),
            Ok(()),
            "{path}"
        );
    }
    assert_eq!(
        verify(
            OPENSSL_SIGNED_LIST,
            "/i/third/x.ts",
            1_700_000_000,
            &[&other]
        ),
        Err(TokenError::AclMismatch)
    );
}

#[test]
fn times_are_checked_at_their_edges() {
    let k = key();
    let at = |now| verify(OPENSSL_SIGNED, "/i/x", now, &[&k]);
    assert_eq!(at(1_699_999_999), Err(TokenError::NotYetValid));
    assert_eq!(at(1_700_000_000), Ok(()));
    assert_eq!(at(1_700_003_599), Ok(()));
    assert_eq!(at(1_700_003_600), Err(TokenError::Expired));
}

#[test]
fn the_alternate_key_is_accepted_and_others_are_not() {
    let (k, wrong) = (key(), decode_hex("00112233").unwrap());
    assert_eq!(
        verify(OPENSSL_SIGNED, "/i/x", 1_700_000_001, &[&wrong, &k]),
        Ok(())
    );
    assert_eq!(
        verify(OPENSSL_SIGNED, "/i/x", 1_700_000_001, &[&wrong]),
        Err(TokenError::BadHmac)
    );
    assert_eq!(
        verify(OPENSSL_SIGNED, "/i/x", 1_700_000_001, &[]),
        Err(TokenError::BadHmac)
    );
}

#[test]
fn a_tampered_field_breaks_the_signature() {
    let k = key();
    for tampered in [
        OPENSSL_SIGNED.replace("exp=1700003600", "exp=1900003600"),
        OPENSSL_SIGNED.replace("st=1700000000", "st=1600000000"),
        OPENSSL_SIGNED.replace("acl=/i/*", "acl=/*"),
        OPENSSL_SIGNED.replace("hmac=6e", "hmac=6f"),
    ] {
        assert_eq!(
            verify(&tampered, "/i/x", 1_700_000_001, &[&k]),
            Err(TokenError::BadHmac),
            "{tampered}"
        );
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let h = "0".repeat(64);
    for text in [
        String::new(),
        "garbage".into(),
        format!("exp=1~acl=/*~hmac={}", &h[..62]),
        format!("exp=1~acl=/*~hmac={h}00"),
        format!("exp=1~acl=/*~hmac={}", "g".repeat(64)),
        format!("acl=/*~hmac={h}"),
        format!("exp=1~hmac={h}"),
        format!("exp=1~acl=~hmac={h}"),
        format!("exp=x~acl=/*~hmac={h}"),
        format!("exp=-1~acl=/*~hmac={h}"),
        format!("exp=99999999999999999999~acl=/*~hmac={h}"),
        format!("exp=1~exp=2~acl=/*~hmac={h}"),
        format!("exp=1~acl=/*~ip=1.2.3.4~hmac={h}"),
        format!("exp=1~acl=/*~~hmac={h}"),
        format!("exp=1~acl=/*~novalue~hmac={h}"),
        format!("exp=1~acl={}~hmac={h}", "a".repeat(MAX_TOKEN_BYTES)),
    ] {
        assert_eq!(parse(&text), Err(TokenError::Malformed), "{text:?}");
    }
}

#[test]
fn acl_patterns_match_whole_paths() {
    let cases = [
        ("/*", "/i/a.ts", true),
        ("/i/*", "/i/", true),
        ("/i/*", "/c/a.ts", false),
        ("/i/a.ts", "/i/a.ts", true),
        ("/i/a.ts", "/i/a.tsx", false),
        ("/i/*/master.m3u8", "/i/x/y/master.m3u8", true),
        ("/i/*/master.m3u8", "/i/x/y/index.m3u8", false),
        ("/i/*b*b", "/i/abb", true),
        ("/i/*b*b", "/i/ab", false),
        ("*", "", true),
        ("", "/", false),
    ];
    for (pattern, path, expected) in cases {
        assert_eq!(pattern_matches(pattern, path), expected, "{pattern} {path}");
    }
}

#[test]
fn hex_keys_decode_strictly() {
    assert_eq!(decode_hex("00ff"), Some(vec![0, 255]));
    assert_eq!(decode_hex("0FfA"), Some(vec![15, 250]));
    for bad in ["0", "zz", "0 ", "+1"] {
        assert_eq!(decode_hex(bad), None, "{bad}");
    }
}
