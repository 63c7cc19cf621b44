//! URL forms and kinds of sources through the whole stack: single and csmil masters,
//! csmil-relative forms stored once, encoded and non-ASCII names, query strings,
//! absolute variant URIs, audio-only/video-only/HEVC/irregular/fragmented sources.

use crate::common::*;

const CSMIL_DIR: &str = "/i/clip_,low,medium,highdef,.mp4.csmil";

fn clip_stack() -> Stack {
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .start()
}

#[test]
fn single_rendition_master_and_csmil_relative_forms() {
    let stack = clip_stack();
    let r = stack.get("/i/clip_low.mp4/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    assert_eq!(vs.len(), 1, "{}", r.text());
    assert_eq!(
        resolve("/i/clip_low.mp4/master.m3u8", &vs[0].1),
        "/i/clip_low.mp4/index_0_av.m3u8"
    );

    // index_1 of the csmil is clip_medium (URL order, 0-based).
    let relative = check_media_playlist(
        &stack,
        &format!("{CSMIL_DIR}/index_1_av.m3u8"),
        "clip_medium.mp4",
    );
    let direct = check_media_playlist(
        &stack,
        "/i/clip_medium.mp4/index_0_av.m3u8",
        "clip_medium.mp4",
    );
    assert_eq!(relative.len(), direct.len());
    for k in 1..=2 {
        let rel_path = format!("{CSMIL_DIR}/segment{k}_1_av.ts");
        let rel = stack.get(&rel_path);
        let dir = stack.get(&format!("/i/clip_medium.mp4/segment{k}_0_av.ts"));
        assert_eq!((rel.status, dir.status), (200, 200));
        assert!(
            rel.body == dir.body,
            "{rel_path} differs from the rendition's segment {k}"
        );
        let meta = std::fs::symlink_metadata(stack.cache_path(&rel_path))
            .unwrap_or_else(|e| panic!("{rel_path} not in the cache: {e}"));
        assert!(
            meta.file_type().is_symlink(),
            "{rel_path} stored twice, not as a symlink"
        );
    }
}

#[test]
fn encoded_and_non_ascii_names_fill_and_hit() {
    let stack = Stack::builder()
        .file_as(&media("clip_low.mp4"), "dir one/my vid\u{e9}o.mp4")
        .start();
    let base = "/i/dir%20one/my%20vid%C3%A9o.mp4";
    check_media_playlist(
        &stack,
        &format!("{base}/index_0_av.m3u8"),
        "dir one/my vid\u{e9}o.mp4",
    );
    let segment = format!("{base}/segment1_0_av.ts");
    let miss = stack.get(&segment);
    assert_eq!(miss.status, 200, "{}", miss.text());
    // The cache mirrors the decoded path, which is where nginx's try_files looks.
    assert!(stack
        .cache_path("/i/dir one/my vid\u{e9}o.mp4/segment1_0_av.ts")
        .is_file());
    for path in [segment.clone(), format!("{segment}?token=abc")] {
        let hit = stack.get(&path);
        assert_eq!(
            (hit.status, hit.header("x-casterpak-cache")),
            (200, "HIT"),
            "{path}"
        );
        assert!(hit.body == miss.body, "{path}");
    }
    // A csmil whose prefix and rendition carry encoded bytes.
    let master_path = "/i/dir%20one/my%20vid,%C3%A9o,.mp4.csmil/master.m3u8";
    let r = stack.get(master_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    assert_eq!(vs.len(), 1, "{}", r.text());
    let uri = &vs[0].1;
    assert!(
        uri.is_ascii() && !uri.contains(' '),
        "variant URI not encoded: {uri:?}"
    );
    let playlist = resolve(master_path, uri);
    assert_eq!(stack.get(&playlist).status, 200, "{playlist}");
}

#[test]
fn other_kinds_of_media_play() {
    // (file, codecs the master must list, codecs it must not)
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("audio_only.mp4", &["mp4a.40.2"], &["avc1", "hvc1"]),
        ("video_only.mp4", &["avc1.64"], &["mp4a"]),
        ("hevc.mp4", &["hvc1.", "mp4a.40.2"], &["avc1"]),
        ("irregular_gop.mp4", &["avc1.64", "mp4a.40.2"], &["hvc1"]),
        ("fragmented.mp4", &["avc1.64", "mp4a.40.2"], &["hvc1"]),
    ];
    let mut builder = Stack::builder();
    for (name, _, _) in &cases {
        builder = builder.media(name);
    }
    let stack = builder.start();
    for (name, present, absent) in cases {
        let master_path = format!("/i/{name}/master.m3u8");
        let r = stack.get(&master_path);
        assert_eq!(r.status, 200, "{master_path}: {}", r.text());
        let vs = variants(&r.text());
        assert_eq!(vs.len(), 1, "{}", r.text());
        let codecs = vs[0].0.get("CODECS").cloned().unwrap_or_default();
        for c in present {
            assert!(codecs.contains(c), "{name}: CODECS {codecs:?} lacks {c}");
        }
        for c in absent {
            assert!(!codecs.contains(c), "{name}: CODECS {codecs:?} has {c}");
        }
        check_media_playlist(&stack, &resolve(&master_path, &vs[0].1), name);
        assert_ffmpeg_decodes(&stack, &master_path, name);
    }
}

#[test]
fn public_base_url_makes_variant_uris_absolute() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .config("", "public_base_url = \"https://cdn.example.com\"")
        .start();
    let r = stack.get("/i/clip_,low,medium,.mp4.csmil/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let uris: Vec<String> = variants(&r.text()).into_iter().map(|(_, u)| u).collect();
    assert_eq!(
        uris,
        [
            "https://cdn.example.com/i/clip_low.mp4/index_0_av.m3u8",
            "https://cdn.example.com/i/clip_medium.mp4/index_0_av.m3u8"
        ],
        "{}",
        r.text()
    );
}

#[test]
fn a_changed_source_is_packaged_again() {
    let stack = Stack::builder()
        .file_as(&media("clip_low.mp4"), "a.mp4")
        .media("clip_medium.mp4")
        .start();
    for leaf in ["index_0_av.m3u8", "segment1_0_av.ts"] {
        assert_eq!(stack.get(&format!("/i/a.mp4/{leaf}")).status, 200);
    }
    // Replace the source (new size and mtime) the way an upload tool would: rename over it.
    let tmp = stack.media_root.join(".a.mp4.upload");
    std::fs::copy(media("clip_medium.mp4"), &tmp).expect("copy");
    std::fs::rename(&tmp, stack.media_root.join("a.mp4")).expect("rename");
    // nginx answers hits alone, so the worker learns of the change on the next miss and
    // evicts the old files; from then on nginx may answer from a descriptor it holds for
    // at most open_file_cache_valid (2 s), and after that nothing packaged from the old
    // source may be served beside the new.
    let fresh = stack.get("/i/a.mp4/segment3_0_av.ts");
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    loop {
        let mut stale = Vec::new();
        for leaf in ["segment3_0_av.ts", "segment1_0_av.ts", "index_0_av.m3u8"] {
            let changed = stack.get(&format!("/i/a.mp4/{leaf}"));
            let expected = stack.get(&format!("/i/clip_medium.mp4/{leaf}"));
            assert_eq!((changed.status, expected.status), (200, 200), "{leaf}");
            if changed.body != expected.body {
                stale.push(leaf);
            }
        }
        if stale.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stale:?} of a.mp4 still from the old source"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Every directory under the cache's `i/` whose name is a csmil list.
fn csmil_dirs(stack: &Stack) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(stack.cache_path("/i"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".csmil"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn csmil_spellings_with_empty_elements_redirect_to_the_one_cached_spelling() {
    let stack = clip_stack();
    let canonical = "/i/clip_,low,medium,.mp4.csmil";
    let master = stack.get(&format!("{canonical}/master.m3u8"));
    assert_eq!(master.status, 200, "{}", master.text());
    let segment = stack.get(&format!("{canonical}/segment1_1_av.ts"));
    assert_eq!(segment.status, 200, "{}", segment.text());
    for (spelling, leaf) in [
        (
            "/i/clip_,,low,,medium,,.mp4.csmil",
            "master.m3u8?token=a%20b&x=1",
        ),
        ("/i/clip_,low,,,medium,.mp4.csmil", "index_1_av.m3u8"),
        ("/i/clip_,,low,medium,.mp4.csmil", "segment1_1_av.ts"),
        (
            "/i/clip_%2C%2Clow,medium,.mp4.csmil",
            "segment2_0_av.ts?t=9",
        ),
    ] {
        let path = format!("{spelling}/{leaf}");
        for _ in 0..2 {
            let r = stack.get(&path);
            assert_eq!(r.status, 301, "{path}: {}", r.text());
            let query = leaf.split_once('?').map(|(_, q)| format!("?{q}"));
            let file = leaf.split('?').next().unwrap_or(leaf);
            let expected = format!("{canonical}/{file}{}", query.unwrap_or_default());
            assert_eq!(r.header("location"), expected, "{path}");
            let target = stack.get(r.header("location"));
            assert_eq!(target.status, 200, "{expected}: {}", target.text());
        }
    }
    assert_eq!(
        csmil_dirs(&stack),
        ["clip_,low,medium,.mp4.csmil"],
        "a second spelling has cache entries"
    );
    // A list of nothing but empty elements is not redirected anywhere.
    let r = stack.get("/i/clip_,,,.mp4.csmil/master.m3u8");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(csmil_dirs(&stack).len(), 1);
}

#[test]
fn max_uri_bytes_bounds_the_path_and_hits_agree_with_misses() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .config("limits", "max_uri_bytes = 256")
        .start();
    // A query longer than the limit: the same 200 cold (a miss) and cached (a hit).
    let query = format!("?token={}", "t".repeat(3000));
    let path = format!("/i/clip_low.mp4/segment1_0_av.ts{query}");
    let cold = stack.get(&path);
    assert_eq!(
        (cold.status, cold.header("x-casterpak-cache")),
        (200, "MISS"),
        "cold: {}",
        cold.text()
    );
    let cached = stack.get(&path);
    assert_eq!(
        (cached.status, cached.header("x-casterpak-cache")),
        (200, "HIT")
    );
    assert!(cold.body == cached.body);
    // A path longer than the limit names no cacheable file: 400, never cached, so
    // never a hit either.
    let dir = format!("{}/{}", "d".repeat(100), "e".repeat(100));
    let name = format!("{dir}/{}.mp4", "n".repeat(100));
    std::fs::create_dir_all(stack.media_root.join(&dir)).expect("mkdir");
    std::fs::copy(media("clip_low.mp4"), stack.media_root.join(&name)).expect("copy");
    let long = format!("/i/{name}/segment1_0_av.ts");
    for _ in 0..2 {
        let r = stack.get(&long);
        assert_eq!(r.status, 400, "{}", r.text());
    }
    assert!(!stack.cache_path(&long).exists());
    // Beyond nginx's request line limit both are refused by nginx, hit or miss alike.
    let huge = format!(
        "/i/clip_low.mp4/segment1_0_av.ts?token={}",
        "t".repeat(9000)
    );
    assert_eq!(stack.get(&huge).status, 414);
    let huge_cold = format!(
        "/i/clip_low.mp4/segment2_0_av.ts?token={}",
        "t".repeat(9000)
    );
    assert_eq!(stack.get(&huge_cold).status, 414);
}
