//! Real-Bento4 mode over a remote source (issue 10, test 7): the tool reads the
//! whole file, so the object is downloaded into the input cache once, in verified
//! pieces, however many requests arrive at once.

use crate::common::archive::Archive;
use crate::common::*;

#[test]
fn concurrent_misses_download_the_object_once() {
    let archive = Archive::start();
    let source = media("a_720p_60s.mp4");
    archive.put(&source, "vod/a.mp4");
    let size = std::fs::metadata(&source).unwrap().len();
    let input = archive.dir.path().join("input");
    let stack = Stack::builder()
        .packaging(Packaging::Whole)
        .config(
            "[sources]",
            &format!(
                "prefix = \"arch\"\nkind = \"http\"\nbase_url = \"{}/vod\"",
                archive.base_url()
            ),
        )
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .start();
    let port = stack.port;
    let answers: Vec<_> = (1..=8)
        .map(|k| {
            std::thread::spawn(move || {
                request(
                    port,
                    "GET",
                    format!("/i/arch/a.mp4/segment{k}_0_av.ts").as_bytes(),
                    &[],
                )
            })
        })
        .collect();
    for (k, answer) in answers.into_iter().enumerate() {
        let got = answer.join().unwrap();
        assert_eq!(got.status, 200, "segment {}: {}", k + 1, got.text());
        assert_transport_stream(&got.body, "whole-mode segment");
    }
    let log = archive.log();
    let bytes: u64 = log.iter().map(|l| l.bytes).sum();
    println!(
        "8 concurrent misses: {} upstream requests, {bytes} bytes of a {size}-byte object",
        log.len()
    );
    for l in &log {
        println!("  {} {} {} {}", l.uri, l.status, l.bytes, l.range);
    }
    assert_eq!(bytes, size, "every byte fetched exactly once");
    let runs = stack.mp42hls_runs();
    assert_eq!(runs.len(), 1, "one whole packaging: {runs:?}");
    assert_ffmpeg_decodes(
        &stack,
        "/i/arch/a.mp4/master.m3u8",
        "whole-mode remote rendition",
    );
}
