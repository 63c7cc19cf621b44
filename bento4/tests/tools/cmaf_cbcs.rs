//! `mp42hls --cmaf … --encryption-mode cbcs`: every segment, joined to its init
//! segment, decrypts in ffmpeg (`-decryption_key`) to exactly the frames of the clear
//! segment (`framemd5`), and without the key it does not; the init names the scheme
//! (`encv`/`enca`, `frma`, `schm` cbcs, `tenc` with the key ID, a Common `pssh`);
//! a segment made alone, and by a `--serve` job, is the whole run's bytes; the
//! playlist says SAMPLE-AES.

use crate::mp42hls_support::{media, run_in, run_ok, serve_jobs, Scratch};
use std::path::Path;
use std::process::Command;

const KEY: &str = "00112233445566778899aabbccddeeff";
const KID: &str = "0123456789abcdef0123456789abcdef";
const IV: &str = "ffeeddccbbaa99887766554433221100";

fn cbcs_args<'a>(kind: &'a str, path: &'a str) -> Vec<&'a str> {
    vec![
        "--cmaf",
        kind,
        "--first-segment-number",
        "1",
        "--encryption-mode",
        "cbcs",
        "--encryption-key",
        KEY,
        "--encryption-kid",
        KID,
        "--encryption-iv",
        IV,
        path,
    ]
}

/// The frames ffmpeg decodes from `bytes` (an MP4), as `framemd5` lines.
fn frames(scratch: &Scratch, bytes: &[u8], key: Option<&str>, name: &str) -> (bool, String) {
    let file = scratch.path(name);
    std::fs::write(&file, bytes).unwrap();
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error"]);
    if let Some(key) = key {
        command.args(["-decryption_key", key]);
    }
    let out = command
        .arg("-i")
        .arg(&file)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    (
        out.status.success() && out.stderr.is_empty(),
        lines.join("\n"),
    )
}

fn check(source: &Path, kind: &str) {
    let path = source.to_str().unwrap();
    let clear = Scratch::new(&format!("cbcs-{kind}-clear"));
    run_ok(
        &clear.0,
        &["--cmaf", kind, "--first-segment-number", "1", path],
    );
    let protected = Scratch::new(&format!("cbcs-{kind}"));
    run_ok(&protected.0, &cbcs_args(kind, path));
    let init = protected.read("init.mp4");
    let entry: &[u8; 4] = if kind == "video" { b"encv" } else { b"enca" };
    for name in [&entry[..], b"sinf", b"frma", b"cbcs", b"tenc", b"pssh"] {
        assert!(
            init.windows(name.len()).any(|w| w == name),
            "{kind} init lacks {}",
            String::from_utf8_lossy(name)
        );
    }
    let kid: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&KID[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        init.windows(16).any(|w| w == kid),
        "the key ID is in the init"
    );
    let playlist = protected.text("stream.m3u8");
    assert!(
        playlist.contains(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"key.bin\",KEYFORMAT=\"identity\"\n#EXT-X-MAP:"
        ),
        "{playlist}"
    );
    let count = playlist.matches("#EXTINF").count();
    assert!(count > 1, "{playlist}");
    let clear_init = clear.read("init.mp4");
    for k in 1..=count {
        let name = format!("segment-{k}.m4s");
        let segment = protected.read(&name);
        assert!(
            segment.windows(4).any(|w| w == b"senc"),
            "{kind} {name} has senc"
        );
        let want = frames(
            &clear,
            &[clear_init.clone(), clear.read(&name)].concat(),
            None,
            "c.mp4",
        );
        assert!(
            want.0 && !want.1.is_empty(),
            "{kind} {name} clear: {}",
            want.1
        );
        let joined = [init.clone(), segment].concat();
        let got = frames(&protected, &joined, Some(KEY), "e.mp4");
        assert!(got.0, "{kind} {name}: ffmpeg complained decrypting");
        assert_eq!(
            got.1, want.1,
            "{kind} {name}: decrypted frames differ from the clear ones"
        );
        let keyless = frames(&protected, &joined, None, "n.mp4");
        assert_ne!(keyless.1, want.1, "{kind} {name} decodes without the key");
    }
    // Alone equals whole: the IV is constant, nothing depends on the run.
    let alone = Scratch::new(&format!("cbcs-{kind}-alone"));
    let mut args = cbcs_args(kind, path);
    let last = count.to_string();
    args.splice(0..0, ["--segments", last.as_str()]);
    run_ok(&alone.0, &args);
    assert_eq!(
        alone.read(&format!("segment-{count}.m4s")),
        protected.read(&format!("segment-{count}.m4s"))
    );
}

#[test]
fn h264_decrypts_to_the_clear_frames() {
    check(&media("clip_low.mp4"), "video");
}

// Three tests rather than one, so the test threads decode them side by side.
#[test]
fn aac_decrypts_to_the_clear_frames() {
    check(&media("clip_low.mp4"), "audio");
}

#[test]
fn hevc_decrypts_to_the_clear_frames() {
    check(&media("hevc.mp4"), "video");
}

#[test]
fn serve_jobs_write_the_one_shot_cbcs_bytes() {
    let source = media("clip_low.mp4");
    let path = source.to_str().unwrap();
    let one_shot = Scratch::new("cbcs-serve-one-shot");
    run_ok(&one_shot.0, &cbcs_args("video", path));
    let served = Scratch::new("cbcs-serve");
    let cbcs = serde_json::json!({"key": KEY, "kid": KID, "iv": IV});
    let jobs = [
        serde_json::json!({"id": 1, "op": "init", "cmaf": "video", "segment_duration": 6.0,
            "input": path, "output": served.path("init.mp4"), "cbcs": cbcs}),
        serde_json::json!({"id": 2, "op": "segment", "cmaf": "video", "segment_duration": 6.0,
            "k": 2, "input": path, "output": served.path("segment-2.m4s"), "cbcs": cbcs}),
        serde_json::json!({"id": 3, "op": "plan", "cmaf": "video", "segment_duration": 6.0,
            "input": path, "cbcs": cbcs}),
        serde_json::json!({"id": 4, "op": "segment", "cmaf": "video", "segment_duration": 6.0,
            "k": 2, "input": path, "output": served.path("x.m4s"),
            "cbcs": {"key": KEY, "kid": "00", "iv": IV}}),
    ];
    let answers = serve_jobs(&jobs);
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[0]["ok"], true, "{answers:?}");
    assert_eq!(answers[1]["ok"], true, "{answers:?}");
    assert_eq!(served.read("init.mp4"), one_shot.read("init.mp4"));
    assert_eq!(served.read("segment-2.m4s"), one_shot.read("segment-2.m4s"));
    for (i, why) in [
        (2, "cbcs is for CMAF segment and init jobs"),
        (3, "kid must be 32 hex"),
    ] {
        assert_eq!(answers[i]["ok"], false, "{answers:?}");
        assert!(
            answers[i]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{answers:?}"
        );
    }
}

#[test]
fn cbcs_needs_cmaf_and_all_three_values() {
    let dir = Scratch::new("cbcs-usage");
    let source = media("clip_low.mp4");
    let path = source.to_str().unwrap();
    for args in [
        vec![
            "--encryption-mode",
            "cbcs",
            "--encryption-key",
            KEY,
            "--encryption-kid",
            KID,
            "--encryption-iv",
            IV,
            path,
        ],
        vec![
            "--cmaf",
            "video",
            "--encryption-mode",
            "cbcs",
            "--encryption-key",
            KEY,
            path,
        ],
        vec!["--cmaf", "video", "--encryption-kid", KID, path],
        vec![
            "--cmaf",
            "video",
            "--encryption-mode",
            "cbcs",
            "--encryption-key",
            KEY,
            "--encryption-kid",
            "xyz",
            "--encryption-iv",
            IV,
            path,
        ],
    ] {
        let out = run_in(&dir.0, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(dir.files().is_empty(), "{args:?} wrote files");
    }
}
