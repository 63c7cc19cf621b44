//! Corrupt titles made by box surgery from real test media (issue 8, defects 5 and
//! 6), through real nginx, the worker and our tools, in both packaging modes: the
//! master, the media playlist and a segment of each answer 422 with the tool's
//! one-line reason, and nothing of the title reaches the cache. The crafted bytes
//! are the ones the bento4 tests check mode by mode.

use crate::common::*;
use crate::crafted_media::corrupt_titles;

fn check(packaging: Packaging) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let titles = corrupt_titles(&media_dir());
    assert_eq!(titles.len(), 11);
    let mut builder = Stack::builder().packaging(packaging).media("clip_low.mp4");
    for title in &titles {
        let path = scratch.path().join(format!("{}.mp4", title.name));
        std::fs::write(&path, &title.bytes).expect("write crafted title");
        builder = builder.file_as(&path, &format!("{}.mp4", title.name));
    }
    let stack = builder.start();
    for title in &titles {
        for leaf in ["master.m3u8", "index_0_av.m3u8", "segment1_0_av.ts"] {
            let path = format!("/i/{}.mp4/{leaf}", title.name);
            let r = stack.get(&path);
            let text = r.text();
            assert_eq!(r.status, 422, "{packaging:?} {path}: {text}");
            let reason = text.trim_end_matches('\n');
            assert!(
                !reason.contains('\n') && reason.contains(title.reason),
                "{packaging:?} {path}: reason {text:?} should say {:?}",
                title.reason
            );
        }
        assert_eq!(
            stack.rendition_files(title.name),
            0,
            "{packaging:?}: {} left files in the cache: {:?}",
            title.name,
            stack.cached_files()
        );
    }
    // The worker goes on serving good media, and only that is cached.
    let r = stack.get("/i/clip_low.mp4/segment1_0_av.ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_transport_stream(&r.body, "good segment after the crafted titles");
    let clip = stack.cache_path("/i/clip_low.mp4");
    let strays: Vec<_> = stack
        .cached_files()
        .into_iter()
        .filter(|f| !f.starts_with(&clip))
        .collect();
    assert!(strays.is_empty(), "{packaging:?}: cached {strays:?}");
}

#[test]
fn corrupt_titles_answer_422_and_cache_nothing_just_in_time() {
    check(Packaging::JustInTime);
}

#[test]
fn corrupt_titles_answer_422_and_cache_nothing_whole() {
    check(Packaging::Whole);
}
