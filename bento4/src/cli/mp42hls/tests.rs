//! Table-driven tests of the mp42hls option parser.

use super::*;

fn run(args: &[&str]) -> Result<Args, UsageError> {
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse(&owned)? {
        Command::Run(args) => Ok(*args),
        other => Err(format!("not a run: {other:?}").into()),
    }
}

#[test]
fn defaults() {
    let args = run(&["in.mp4"]).unwrap();
    assert_eq!(args.input, PathBuf::from("in.mp4"));
    assert_eq!(args.plan, PlanOptions::default());
    assert_eq!(args.mode, Mode::Whole);
    assert_eq!(args.index_filename, "stream.m3u8");
    assert_eq!(args.segment_filenames.format(3), "segment-3.ts");
    assert_eq!(args.segment_urls.format(3), "segment-3.ts");
    assert_eq!(args.hls_version, 3);
    assert!(args.encryption.is_none());
}

#[test]
fn accepted_options_table() {
    type Check = Box<dyn Fn(&Args) -> bool>;
    let cases: Vec<(Vec<&str>, Check)> = vec![
        (
            vec!["--segment-duration", "2.5", "a"],
            Box::new(|a| a.plan.segment_duration == 2.5),
        ),
        (
            vec!["--segment-duration-threshold", "40", "a"],
            Box::new(|a| a.plan.threshold_seconds == 0.04),
        ),
        (
            vec!["--pmt-pid", "0x1F0", "a"],
            Box::new(|a| a.plan.pmt_pid == 0x1F0),
        ),
        (
            vec!["--video-pid", "300", "a"],
            Box::new(|a| a.plan.video_pid == 300),
        ),
        (
            vec!["--audio-track-id", "0", "a"],
            Box::new(|a| a.plan.audio_track_id == Some(0)),
        ),
        (
            vec!["--pcr-offset", "0", "a"],
            Box::new(|a| a.plan.pcr_offset == 0),
        ),
        (
            vec!["--first-segment-number", "1", "a"],
            Box::new(|a| a.plan.first_segment_number == 1),
        ),
        (vec!["--plan", "a"], Box::new(|a| a.mode == Mode::Plan)),
        (
            vec!["--video-track-id", "0", "--align-to-video", "a"],
            Box::new(|a| a.plan.align_to_video && a.plan.video_track_id == Some(0)),
        ),
        (
            vec!["--segments", "4", "a"],
            Box::new(|a| a.mode == Mode::Segments(4, 4)),
        ),
        (
            vec!["--segments", "2-5", "a"],
            Box::new(|a| a.mode == Mode::Segments(2, 5)),
        ),
        (
            vec!["--allow-cache", "no", "a"],
            Box::new(|a| a.allow_cache == Some(false)),
        ),
        (
            vec!["--output-single-file", "a"],
            Box::new(|a| a.segment_filenames.format(0) == "stream.ts"),
        ),
        (
            vec![
                "--encryption-key",
                "000102030405060708090a0b0c0d0e0f",
                "--encryption-iv-mode",
                "random",
                "a",
            ],
            Box::new(|a| {
                a.encryption
                    .as_ref()
                    .is_some_and(|e| e.iv_mode == IvMode::Random && e.key_uri == "key.bin")
            }),
        ),
        (
            vec!["--hls-version", "6", "--show-info", "--verbose", "a"],
            Box::new(|a| a.hls_version == 6 && a.show_info && a.verbose),
        ),
    ];
    for (args, check) in cases {
        let parsed = run(&args).unwrap_or_else(|e| panic!("{args:?}: {}", e.reason));
        assert!(check(&parsed), "{args:?}");
    }
}

#[test]
fn usage_errors_table() {
    let cases: [&[&str]; 19] = [
        &[],
        &["--segment-duration", "0", "a"],
        &["--segment-duration", "-1", "a"],
        &["--segment-duration", "abc", "a"],
        &["--segment-duration"],
        &["--bogus", "a"],
        &["a", "b"],
        &["--show-info"],
        &["--pmt-pid", "0x2000", "a"],
        &["--segments", "5-2", "a"],
        &["--segments", "x", "a"],
        &["--encryption-key", "abc", "a"],
        &["--encryption-mode", "AES-128", "a"],
        &[
            "--encryption-key",
            "000102030405060708090a0b0c0d0e0f",
            "--encryption-mode",
            "SAMPLE-AES",
            "a",
        ],
        &["--segment-filename-template", "fixed.ts", "a"],
        &["--segment-url-template", "a%s", "a"],
        &["--allow-cache", "maybe", "a"],
        &["--first-segment-number", "18446744073709551615", "a"],
        &["--video-pid", "0x101", "a"],
    ];
    for args in cases {
        assert!(run(args).is_err(), "{args:?} should be a usage error");
    }
}

#[test]
fn usage_text_only_where_it_helps() {
    let shown = |args: &[&str]| run(args).err().map(|e| e.show_usage);
    assert_eq!(shown(&[]), Some(true));
    assert_eq!(shown(&["--bogus", "a"]), Some(true));
    assert_eq!(shown(&["a", "b"]), Some(true));
    assert_eq!(shown(&["--segment-duration", "0", "a"]), Some(false));
}

#[test]
fn help_and_capabilities() {
    assert_eq!(parse(&["--help".to_string()]), Ok(Command::Help));
    assert_eq!(
        parse(&["a".to_string(), "--capabilities".to_string()]),
        Ok(Command::Capabilities)
    );
    assert!(USAGE.contains("Extensions"));
    let caps: serde_json::Value = serde_json::from_str(CAPABILITIES).unwrap();
    assert_eq!(caps["casterpak_extensions"], 1);
}

#[test]
fn serve_takes_its_cache_bounds_and_nothing_else() {
    let serve = |args: &[&str]| parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    assert_eq!(
        serve(&["--serve"]),
        Ok(Command::Serve(ServeOptions::default()))
    );
    assert_eq!(
        serve(&[
            "--index-cache-entries",
            "2",
            "--serve",
            "--index-cache-bytes",
            "1000"
        ]),
        Ok(Command::Serve(ServeOptions {
            index_cache_entries: 2,
            index_cache_bytes: 1000
        }))
    );
    for args in [
        &["--serve", "a.mp4"][..],
        &["--serve", "--plan"],
        &["--serve", "--segment-duration", "6"],
        &["--serve", "--index-cache-entries"],
        &["--serve", "--index-cache-bytes", "-1"],
    ] {
        assert!(serve(args).is_err(), "{args:?}");
    }
    let caps: serde_json::Value = serde_json::from_str(CAPABILITIES).unwrap();
    assert_eq!(caps["serve"], true);
}

#[test]
fn cmaf_options() {
    let args = run(&["--cmaf", "audio", "in.mp4"]).unwrap();
    assert_eq!(args.cmaf, Some(CmafTrack::Audio));
    assert_eq!(args.segment_filenames.format(2), "segment-2.m4s");
    assert_eq!(args.init_segment_filename, "init.mp4");
    let args = run(&["--cmaf", "video", "--init-segment", "in.mp4"]).unwrap();
    assert_eq!(args.mode, Mode::Init);
    for refused in [
        vec!["--cmaf", "subtitles", "in.mp4"],
        vec!["--init-segment", "in.mp4"],
        vec!["--cmaf", "video", "--init-segment", "--plan", "in.mp4"],
        vec!["--cmaf", "video", "--output-single-file", "in.mp4"],
        vec![
            "--cmaf",
            "video",
            "--iframe-index-filename",
            "i.m3u8",
            "in.mp4",
        ],
        vec![
            "--cmaf",
            "video",
            "--encryption-key",
            "00112233445566778899aabbccddeeff",
            "in.mp4",
        ],
    ] {
        assert!(run(&refused).is_err(), "{refused:?}");
    }
}
