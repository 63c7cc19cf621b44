//! AES-128 at the origin (`[encryption]`): titles under the configured paths get
//! `EXT-X-KEY` in their media playlists and encrypted segments in the cache; the key
//! comes from the worker, never from the cache; a real client (ffmpeg) plays them,
//! and openssl decrypts a segment into the very bytes the title's clear copy has.
//! CMAF HLS and DASH of those titles are `cbcs` (SAMPLE-AES over fMP4): ffmpeg,
//! given the key the playlist's key URL answers, decodes each segment into the very
//! frames of the clear copy, and the MPD names each representation's key ID, the one
//! in its init segment. A change of master key or paths purges what it covers at the
//! next start.

use crate::common::*;
use std::process::Command;

const KEY_A: &str = "00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100";
const KEY_LINE: &str = "#EXT-X-KEY:METHOD=AES-128,URI=";

fn stack(paths: &str) -> Stack {
    Stack::builder()
        .file_as(&media("clip_low.mp4"), "secure/clip_low.mp4")
        .file_as(&media("clip_medium.mp4"), "secure/clip_medium.mp4")
        .file_as(&media("clip_low.mp4"), "open/clip_low.mp4")
        .config("encryption", &format!("master_key = {KEY_A:?}"))
        .config("encryption", &format!("paths = {paths}"))
        .start()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ciphertext` decrypted by openssl as a player does: AES-128-CBC, PKCS#7, the IV
/// the segment's media sequence number.
fn decrypt(ciphertext: &[u8], key: &[u8], sequence: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, ciphertext).unwrap();
    let out = Command::new("openssl")
        .args(["enc", "-d", "-aes-128-cbc", "-K", &hex(key)])
        .args(["-iv", &format!("{sequence:032x}"), "-in"])
        .arg(&input)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn key_of(stack: &Stack, path: &str) -> Vec<u8> {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(r.header("cache-control"), "private, no-store");
    assert_eq!(r.body.len(), 16, "{path}");
    r.body
}

fn get_ok(stack: &Stack, path: &str) -> Response {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r
}

#[test]
fn encrypted_titles_play_and_decrypt_into_their_clear_bytes() {
    let stack = stack(r#"["secure"]"#);
    let playlist = get_ok(&stack, "/i/secure/clip_low.mp4/index_0_av.m3u8").text();
    assert_eq!(playlist.matches(KEY_LINE).count(), 1, "{playlist}");
    assert!(playlist.contains(r#"URI="aes128.key""#), "{playlist}");
    let clear = get_ok(&stack, "/i/open/clip_low.mp4/index_0_av.m3u8").text();
    assert!(!clear.contains("EXT-X-KEY"), "{clear}");

    let key = key_of(&stack, "/i/secure/clip_low.mp4/aes128.key");
    assert_ne!(key, key_of(&stack, "/i/secure/clip_medium.mp4/aes128.key"));
    let segments = segments(&playlist);
    assert!(segments.len() > 1, "{playlist}");
    for (k, (_, uri)) in (1u64..).zip(&segments) {
        let encrypted = get_ok(&stack, &format!("/i/secure/clip_low.mp4/{uri}")).body;
        let plain = get_ok(&stack, &format!("/i/open/clip_low.mp4/{uri}")).body;
        assert_eq!(encrypted.len() % 16, 0, "{uri}");
        assert_ne!(
            encrypted.get(..188),
            plain.get(..188),
            "{uri} is in the clear"
        );
        assert_eq!(decrypt(&encrypted, &key, k), plain, "{uri}");
    }
    // The cache holds the encrypted bytes; the key is never a cached file.
    let cached = stack.cache_path("/i/secure/clip_low.mp4/segment1_0_av.ts");
    assert_ne!(std::fs::read(cached).unwrap().first(), Some(&0x47));
    assert!(!stack
        .cached_files()
        .iter()
        .any(|f| f.ends_with("aes128.key")));
    // Again after a restart (another origin with the same master key): the same key.
    let mut stack = stack;
    stack.stop_worker();
    stack.start_worker();
    assert_eq!(key, key_of(&stack, "/i/secure/clip_low.mp4/aes128.key"));

    // A csmil: each variant's playlist names its own rendition's key; ffmpeg plays it
    // all, fetching the keys as a player does; clips are encrypted too.
    let csmil = "/i/secure/clip_,low,medium,.mp4.csmil";
    let master = get_ok(&stack, &format!("{csmil}/master.m3u8")).text();
    assert!(!master.contains("I-FRAME"), "{master}");
    let second = get_ok(&stack, &format!("{csmil}/index_1_av.m3u8")).text();
    assert!(
        second.contains(r#"URI="../clip_medium.mp4/aes128.key""#),
        "{second}"
    );
    assert_ffmpeg_decodes(&stack, &format!("{csmil}/master.m3u8"), "csmil");
    let clipped = format!("{csmil}/index_0_av.m3u8?start=3&end=8");
    assert!(get_ok(&stack, &clipped).text().contains(KEY_LINE));
    assert_ffmpeg_decodes(&stack, &clipped, "clip");

    // What cannot be encrypted is refused, never served in the clear.
    for (path, status) in [
        ("/i/secure/clip_low.mp4/iframes_0_av.m3u8", 404),
        ("/c/secure/clip_low.mp4/iframes_0_v.m3u8", 404),
        ("/i/open/clip_low.mp4/aes128.key", 404),
        (&format!("{csmil}/aes128.key"), 404),
        ("/i/secure/missing.mp4/aes128.key", 404),
    ] {
        let r = stack.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
}

/// nginx's `open_file_cache_valid`, and a margin: a file nginx opened before the purge
/// can be served from its open-file cache until the entry is checked again.
const NGINX_FILE_CHECK: std::time::Duration = std::time::Duration::from_millis(2500);

#[test]
fn a_new_master_key_or_new_paths_purge_what_they_cover() {
    let mut stack = stack(r#"["secure"]"#);
    let open = "/i/open/clip_low.mp4";
    let plain = get_ok(&stack, &format!("{open}/segment1_0_av.ts")).body;
    let playlist_file = stack.cache_path(&format!("{open}/index_0_av.m3u8"));
    get_ok(&stack, &format!("{open}/index_0_av.m3u8"));
    assert!(playlist_file.exists());
    let secure = get_ok(&stack, "/i/secure/clip_low.mp4/segment1_0_av.ts").body;

    // `open` becomes encrypted: its clear copies go before anything is answered.
    stack.stop_worker();
    stack.reconfigure("encryption", r#"paths = ["secure", "open"]"#);
    stack.start_worker();
    assert!(
        !playlist_file.exists(),
        "a clear playlist outlived the change"
    );
    std::thread::sleep(NGINX_FILE_CHECK);
    let text = get_ok(&stack, &format!("{open}/index_0_av.m3u8")).text();
    assert!(text.contains(KEY_LINE), "{text}");
    let key = key_of(&stack, &format!("{open}/aes128.key"));
    let encrypted = get_ok(&stack, &format!("{open}/segment1_0_av.ts")).body;
    assert_eq!(decrypt(&encrypted, &key, 1), plain);

    // A new master key: segments made under the old one go too.
    stack.stop_worker();
    stack.reconfigure("encryption", &format!("master_key = {KEY_B:?}"));
    stack.start_worker();
    std::thread::sleep(NGINX_FILE_CHECK);
    let new_key = key_of(&stack, "/i/secure/clip_low.mp4/aes128.key");
    let again = get_ok(&stack, "/i/secure/clip_low.mp4/segment1_0_av.ts").body;
    assert_ne!(again, secure, "a segment made under the old key was served");
    assert_eq!(decrypt(&again, &new_key, 1), plain);
}

#[test]
fn real_bento4_with_encryption_refuses_to_start() {
    // Real Bento4 packages whole titles in the clear: no origin may start that way.
    let mut stack = Stack::builder()
        .media("clip_low.mp4")
        .packaging(Packaging::Whole)
        .start();
    stack.stop_worker();
    stack.reconfigure("encryption", &format!("master_key = {KEY_A:?}"));
    stack.reconfigure("encryption", r#"paths = [""]"#);
    let out = Command::new(casterpak_bin())
        .args(["serve", "--config"])
        .arg(&stack.config_path)
        .output()
        .expect("run casterpak serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(stderr.contains("need casterpak's mp42hls"), "{stderr}");
}

/// The frames ffmpeg decodes from init + segment (`framemd5` lines), with `key`.
fn cmaf_frames(init: &[u8], segment: &[u8], key: Option<&[u8]>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("joined.mp4");
    std::fs::write(&file, [init, segment].concat()).unwrap();
    let mut command = Command::new("ffmpeg");
    command.args(["-nostdin", "-v", "error"]);
    if let Some(key) = key {
        command.args(["-decryption_key", &hex(key)]);
    }
    let out = command
        .arg("-i")
        .arg(&file)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        key.is_none() || (out.status.success() && out.stderr.is_empty()),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn cmaf_and_dash_of_encrypted_titles_are_cbcs_with_the_titles_key() {
    let stack = stack(r#"["secure"]"#);
    let csmil = "clip_,low,medium,.mp4.csmil";
    let master = get_ok(&stack, &format!("/c/secure/{csmil}/master.m3u8")).text();
    assert!(!master.contains("I-FRAME"), "{master}");
    for (n, rendition) in [(0, "clip_low.mp4"), (1, "clip_medium.mp4")] {
        let key = key_of(&stack, &format!("/i/secure/{rendition}/aes128.key"));
        for track in ["v", "a"] {
            let path = format!("/c/secure/{csmil}/index_{n}_{track}.m3u8");
            let playlist = get_ok(&stack, &path).text();
            let line = format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"/i/secure/{rendition}/aes128.key\",KEYFORMAT=\"identity\"\n#EXT-X-MAP:"
            );
            assert!(playlist.contains(&line), "{path}: {playlist}");
            // The key URL the playlist names answers the title's key.
            assert_eq!(
                key_of(&stack, &format!("/i/secure/{rendition}/aes128.key")),
                key
            );
            let ext = if track == "v" {
                ("mp4", "m4s")
            } else {
                ("m4a", "m4a")
            };
            let init = get_ok(
                &stack,
                &format!("/c/secure/{csmil}/init_{n}_{track}.{}", ext.0),
            )
            .body;
            let clear_init = get_ok(
                &stack,
                &format!("/c/open/clip_low.mp4/init_0_{track}.{}", ext.0),
            )
            .body;
            for (k, _) in (1..).zip(segments(&playlist)).take(2) {
                let name = |n: usize| format!("segment{k}_{n}_{track}.{}", ext.1);
                let protected = get_ok(&stack, &format!("/c/secure/{csmil}/{}", name(n))).body;
                let decrypted = cmaf_frames(&init, &protected, Some(&key));
                assert!(!decrypted.is_empty(), "{rendition} {track} {k}");
                assert_ne!(
                    cmaf_frames(&init, &protected, None),
                    decrypted,
                    "{rendition} {track} {k} is in the clear"
                );
                if rendition == "clip_low.mp4" {
                    let clear = get_ok(&stack, &format!("/c/open/clip_low.mp4/{}", name(0))).body;
                    assert_eq!(
                        decrypted,
                        cmaf_frames(&clear_init, &clear, None),
                        "{track} {k}"
                    );
                }
            }
        }
    }
    let open = get_ok(&stack, "/c/open/clip_low.mp4/index_0_v.m3u8").text();
    assert!(!open.contains("EXT-X-KEY"), "{open}");

    // DASH: each representation names the key ID its init segment carries.
    let mpd = get_ok(&stack, &format!("/d/secure/{csmil}/manifest.mpd")).text();
    let doc = roxmltree::Document::parse(&mpd).expect("the MPD is XML");
    let mut checked = 0;
    for rep in doc
        .descendants()
        .filter(|n| n.has_tag_name("Representation"))
    {
        let scheme = rep
            .children()
            .find(|c| c.attribute("value") == Some("cbcs"))
            .unwrap_or_else(|| {
                panic!(
                    "{:?} has no cbcs ContentProtection: {mpd}",
                    rep.attribute("id")
                )
            });
        let kid = scheme
            .attributes()
            .find(|a| a.name() == "default_KID")
            .map(|a| a.value().replace('-', ""))
            .expect("default_KID");
        let init = rep
            .descendants()
            .find(|n| n.has_tag_name("SegmentTemplate"))
            .and_then(|t| t.attribute("initialization"))
            .expect("initialization");
        let init = get_ok(&stack, &format!("/c/secure/{csmil}/{init}")).body;
        assert!(hex(&init).contains(&kid), "{kid} not in {init:?}");
        checked += 1;
    }
    assert_eq!(checked, 3, "two video and one audio representation: {mpd}");
    let open = get_ok(&stack, "/d/open/clip_low.mp4/manifest.mpd").text();
    assert!(!open.contains("ContentProtection"), "{open}");
}
