//! `record store` (issue 14): a recording remuxed into one MP4 by real ffmpeg,
//! uploaded to a real S3 server (`s3s-fs` on loopback) and played from there through
//! the origin; the upload's multipart path and its refusals; the remux's timestamps
//! over a publisher's restart and its quoting of odd paths.

use crate::remote_s3::{s3_source, start_s3_with};
use casterpak::config::Config;
use casterpak::remote::upload::{PartSizes, S3Target, UploadError};
use std::path::Path;

/// The source table `s3_source` writes, parsed.
fn target(port: u16, secret: &str) -> S3Target {
    let text = format!("[[sources]]\n{}", s3_source("s3", port, secret));
    let config = Config::from_toml(&text).expect("config");
    let source = &config.sources[0];
    S3Target::new(source, source.credentials(&|_| None), &config.remote).expect("target")
}

/// Bytes that differ at every offset of a part (a part sent twice or out of order
/// would not compare equal).
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn uploads_are_whole_in_one_put_or_in_parts_and_refusals_are_named() {
    let s3 = start_s3_with(&[]);
    let work = tempfile::tempdir().expect("tempdir");
    let good = target(s3.port, "casterpak-secret");
    let small = PartSizes {
        multipart_above: 5 << 20,
        part_bytes: 5 << 20,
    };
    // 12 MiB + 7 bytes in 5 MiB parts: three parts, the last short.
    for (name, len, parts) in [("parts.bin", (12 << 20) + 7, 3), ("one.bin", 300_001, 0)] {
        let file = work.path().join(name);
        let bytes = pattern(len);
        std::fs::write(&file, &bytes).expect("write");
        let rest = format!("up/{name}");
        let done = good
            .upload(&rest, &file, small, &|| true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(done.key, format!("t/{rest}"));
        assert_eq!(done.size, len as u64);
        // A multipart object's ETag ends in its part count (as on AWS).
        let multipart = done.etag.trim_matches('"').rsplit_once('-').map(|(_, n)| n);
        match parts {
            0 => assert!(multipart.is_none() && !done.etag.is_empty(), "{done:?}"),
            n => assert_eq!(multipart, Some(n.to_string().as_str()), "{done:?}"),
        }
        let stored = std::fs::read(s3.dir.path().join("vod").join(&done.key)).expect("stored");
        assert!(stored == bytes, "{name}: the stored object differs");
    }

    // Wrong credentials: a 403 named as such, nothing stored. In parts (the create is
    // refused), in one small PUT (the answer is the 403), and in one 40 MiB PUT: the
    // server answers before the body is read and closes, which the client sees as a
    // broken pipe; the HEAD after it says why.
    let big = work.path().join("big.bin");
    std::fs::write(&big, pattern(40 << 20)).expect("write");
    let bad = target(s3.port, "wrong");
    for (name, sizes) in [
        ("parts.bin", small),
        ("one.bin", small),
        ("big.bin", PartSizes::default()),
    ] {
        let err = bad
            .upload(
                &format!("bad/{name}"),
                &work.path().join(name),
                sizes,
                &|| true,
            )
            .unwrap_err();
        assert!(
            matches!(err, UploadError::Refused { status: 403, .. }),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("secret_access_key"), "{text}");
        assert!(!text.contains("X-Amz-Signature"), "{text}");
    }
    assert!(!s3.dir.path().join("vod/t/bad").exists());

    // A stop asked mid-upload ends it: nothing at the key.
    let err = good
        .upload(
            "up/stopped.bin",
            &work.path().join("parts.bin"),
            small,
            &|| false,
        )
        .unwrap_err();
    assert_eq!(err, UploadError::Stopped);
    assert!(good.head("t/up/stopped.bin").expect("head").is_none());
    assert!(!Path::new(&s3.dir.path().join("vod/t/up/stopped.bin")).exists());
}
