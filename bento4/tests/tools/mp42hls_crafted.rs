//! Corrupt titles made from real test media by box surgery (issue 8, defects 5
//! and 6): every mode of `mp42hls` refuses each one the same way, exit 2 with one
//! line naming what is wrong, before writing anything; so the worker never caches a
//! playlist for a title whose segments cannot be made.

use crate::crafted_media::{corrupt_titles, mdat_first_patched};
use crate::mp42hls_support::*;
use std::process::Command;

const MP4INFO: &str = env!("CARGO_BIN_EXE_mp4info");

/// Checks exit 2, one line `mp42hls: corrupt input: …` holding `needle`, no files.
fn refused(scratch: &Scratch, label: &str, args: &[&str], needle: &str) -> String {
    let out = run_in(&scratch.0, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{label}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{label}: {stderr:?}");
    assert!(
        stderr.starts_with("mp42hls: corrupt input: ") && stderr.contains(needle),
        "{label}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{label}: printed a plan");
    let left: Vec<String> = scratch
        .files()
        .into_iter()
        .filter(|f| !f.ends_with(".mp4"))
        .collect();
    assert!(left.is_empty(), "{label}: left {left:?}");
    stderr
}

#[test]
fn every_mode_refuses_each_corrupt_title_alike() {
    let titles = corrupt_titles(&media_dir());
    assert_eq!(titles.len(), 11);
    // Make sure the sources are there (a missing medium fails, never skips).
    media("clip_low.mp4");
    media("hevc.mp4");
    for title in titles {
        let scratch = Scratch::new(&format!("crafted-{}", title.name));
        let input = scratch.path(&format!("{}.mp4", title.name));
        std::fs::write(&input, &title.bytes).unwrap();
        let input = input.to_str().unwrap();
        let plan = refused(
            &scratch,
            &format!("{} --plan", title.name),
            &["--plan", input],
            title.reason,
        );
        // --segments and a whole run say exactly what --plan said, for every segment.
        for segments in ["1", "2-3", "1-5"] {
            let args = [
                "--first-segment-number",
                "1",
                "--segments",
                segments,
                "--segment-filename-template",
                "s%d.ts",
                input,
            ];
            let label = format!("{} --segments {segments}", title.name);
            assert_eq!(
                refused(&scratch, &label, &args, title.reason),
                plan,
                "{label}"
            );
        }
        let whole = [NAMES.as_slice(), &[input]].concat();
        let label = format!("{} whole run", title.name);
        assert_eq!(
            refused(&scratch, &label, &whole, title.reason),
            plan,
            "{label}"
        );
    }
}

#[test]
fn mp4info_refuses_what_it_cannot_read_and_shows_what_it_can() {
    // Structure (the index does not describe the file): mp4info cannot read the
    // movie either. Timing and parameter sets: the movie reads fine and mp4info
    // shows it, so an operator can look at what mp42hls refuses to package.
    let structural = [
        "mdat_first_no_ftyp",
        "two_moovs",
        "size_past_mdat",
        "size_past_file",
    ];
    for title in corrupt_titles(&media_dir()) {
        let scratch = Scratch::new(&format!("crafted-info-{}", title.name));
        let input = scratch.path("in.mp4");
        std::fs::write(&input, &title.bytes).unwrap();
        let out = Command::new(MP4INFO)
            .args(["--format", "json"])
            .arg(&input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if structural.contains(&title.name) {
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", title.name);
            assert_eq!(stderr.lines().count(), 1, "{}: {stderr:?}", title.name);
            assert!(
                stderr.starts_with("mp4info: corrupt input: ") && stderr.contains(title.reason),
                "{}: {stderr}",
                title.name
            );
        } else {
            assert!(out.status.success(), "{}: {stderr}", title.name);
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("\"tracks\""),
                "{}",
                title.name
            );
        }
    }
}

#[test]
fn mdat_first_without_ftyp_is_fine_when_the_offsets_follow() {
    // The old QuickTime layout (no ftyp, mdat then moov) with a correct index is
    // not corrupt: the segments are byte for byte those of the original.
    let scratch = Scratch::new("crafted-patched");
    let input = scratch.path("patched.mp4");
    std::fs::write(&input, mdat_first_patched(&media_dir())).unwrap();
    let original = media("clip_low.mp4");
    // The same plan, but for where the samples lie: the byte ranges move with the mdat.
    let plan = |path: &std::path::Path| {
        let out = run_ok(&scratch.0, &["--plan", path.to_str().unwrap()]);
        let mut plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for segment in plan["segments"].as_array_mut().unwrap() {
            segment.as_object_mut().unwrap().remove("ranges");
        }
        plan
    };
    assert_eq!(plan(&input), plan(&original));
    for (dir, path) in [("a", &input), ("b", &original)] {
        std::fs::create_dir(scratch.path(dir)).unwrap();
        let args = [NAMES.as_slice(), &[path.to_str().unwrap()]].concat();
        run_ok(&scratch.path(dir), &args);
    }
    let files = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(scratch.path(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files("a"), files("b"));
    assert!(files("a").len() > 2, "{:?}", files("a"));
    for name in files("a") {
        assert!(
            scratch.read(&format!("a/{name}")) == scratch.read(&format!("b/{name}")),
            "{name} differs"
        );
    }
}
