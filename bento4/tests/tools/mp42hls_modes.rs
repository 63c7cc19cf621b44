//! The extensions and options: `--segments K` equals the whole run's file, `--plan`
//! equals what a whole run writes, runs are deterministic, AES-128 decrypts to the
//! clear segments, single-file byte ranges and the I-frame playlist point at the
//! right bytes, `--show-info` measures what was written.

use crate::mp42hls_support::*;
use std::process::Command;

fn whole(label: &str, input: &str, extra: &[&str]) -> (Scratch, Vec<f64>, Vec<String>) {
    let scratch = Scratch::new(label);
    let mut args: Vec<&str> = extra.to_vec();
    args.push(input);
    run_ok(&scratch.0, &args);
    let (extinf, _, uris) = playlist_entries(&scratch.text("stream.m3u8"));
    (scratch, extinf, uris)
}

fn check_segments_and_plan(name: &str, first_number: u64) {
    let input = media(&format!("{name}.mp4"));
    let input = input.to_str().unwrap();
    let first = first_number.to_string();
    let numbering = ["--first-segment-number", first.as_str()];
    let (all, extinf, uris) = whole(&format!("whole-{name}"), input, &numbering);
    assert!(uris.len() >= 3, "{name}: want at least 3 segments");
    let expected_uris: Vec<String> = (0..uris.len() as u64)
        .map(|k| format!("segment-{}.ts", k + first_number))
        .collect();
    assert_eq!(uris, expected_uris);
    assert!(all
        .text("stream.m3u8")
        .contains(&format!("#EXT-X-MEDIA-SEQUENCE:{first_number}\n")));

    // Each segment on its own, in a fresh directory, equals the whole run's file.
    for (k, uri) in uris.iter().enumerate() {
        let one = Scratch::new(&format!("one-{name}-{k}"));
        let number = (k as u64 + first_number).to_string();
        run_ok(
            &one.0,
            &[
                "--first-segment-number",
                &first,
                "--segments",
                &number,
                input,
            ],
        );
        assert_eq!(
            one.files(),
            vec![uri.clone()],
            "{name}: only that segment, no playlist"
        );
        assert!(
            one.read(uri) == all.read(uri),
            "{name}: segment {number} differs from the whole run"
        );
    }
    // A range writes exactly those files.
    let range = Scratch::new(&format!("range-{name}"));
    let span = format!("{}-{}", first_number + 1, first_number + 2);
    run_ok(
        &range.0,
        &["--first-segment-number", &first, "--segments", &span, input],
    );
    assert_eq!(range.files(), vec![uris[1].clone(), uris[2].clone()]);
    assert!(range.read(&uris[2]) == all.read(&uris[2]));

    // The plan, from the index alone, says what the whole run wrote.
    let plan_dir = Scratch::new(&format!("plan-{name}"));
    let out = run_ok(
        &plan_dir.0,
        &["--first-segment-number", &first, "--plan", input],
    );
    assert!(plan_dir.files().is_empty(), "--plan writes nothing");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let segments = plan["segments"].as_array().unwrap();
    assert_eq!(segments.len(), uris.len());
    let mut start = 0.0;
    for (k, segment) in segments.iter().enumerate() {
        assert_eq!(segment["number"].as_u64(), Some(k as u64 + first_number));
        let size = all.read(&uris[k]).len() as u64;
        assert_eq!(
            segment["size"].as_u64(),
            Some(size),
            "{name}: plan size of segment {k}"
        );
        let duration = segment["duration"].as_f64().unwrap();
        assert!(
            (duration - extinf[k]).abs() < 1e-6,
            "{name}: plan duration of segment {k}"
        );
        assert!((segment["start"].as_f64().unwrap() - start).abs() < 1e-6);
        start += duration;
    }
    let max = extinf.iter().cloned().fold(0.0, f64::max);
    assert_eq!(plan["target_duration"].as_u64(), Some(max.round() as u64));
    assert_eq!(plan["first_segment_number"].as_u64(), Some(first_number));

    // Out of range: exit 5, nothing written.
    let beyond = (first_number + uris.len() as u64).to_string();
    let none = Scratch::new(&format!("beyond-{name}"));
    let out = run_in(
        &none.0,
        &[
            "--first-segment-number",
            &first,
            "--segments",
            &beyond,
            input,
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    assert!(none.files().is_empty());
}

#[test]
fn segments_and_plan_a_720p_60s() {
    check_segments_and_plan("a_720p_60s", 1);
}

#[test]
fn segments_and_plan_hevc_irregular_audio_only() {
    check_segments_and_plan("hevc", 0);
    check_segments_and_plan("irregular_gop", 1);
    check_segments_and_plan("audio_only", 1);
}

#[test]
fn segments_and_plan_fragmented_video_only() {
    check_segments_and_plan("fragmented", 1);
    check_segments_and_plan("video_only", 0);
}

#[test]
fn two_runs_are_byte_identical() {
    for name in ["clip_low", "audio_only"] {
        let input = media(&format!("{name}.mp4"));
        let input = input.to_str().unwrap();
        let extra = ["--iframe-index-filename", "iframes.m3u8"];
        let (a, _, _) = whole("det-a", input, &extra);
        let (b, _, _) = whole("det-b", input, &extra);
        assert_eq!(a.files(), b.files());
        for file in a.files() {
            assert!(
                a.read(&file) == b.read(&file),
                "{name}: {file} differs between runs"
            );
        }
    }
}

fn openssl_decrypt(path: &std::path::Path, key: &str, iv: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args([
            "aes-128-cbc",
            "-d",
            "-K",
            key,
            "-iv",
            iv,
            "-in",
            path.to_str().unwrap(),
        ])
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn aes_128_segments_decrypt_to_the_clear_ones() {
    let key = "00112233445566778899aabbccddeeff";
    let input = media("clip_low.mp4");
    let input = input.to_str().unwrap();
    let numbering = ["--first-segment-number", "1"];
    let (clear, _, uris) = whole("aes-clear", input, &numbering);
    let (secret, _, _) = whole(
        "aes-seq",
        input,
        &[
            "--first-segment-number",
            "1",
            "--encryption-key",
            key,
            "--encryption-key-uri",
            "https://keys.example/k1",
        ],
    );
    let playlist = secret.text("stream.m3u8");
    assert!(
        playlist.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k1\"\n"),
        "{playlist}"
    );
    for (k, uri) in uris.iter().enumerate() {
        let iv = format!("{:032x}", k + 1);
        assert!(
            openssl_decrypt(&secret.path(uri), key, &iv) == clear.read(uri),
            "segment {uri} does not decrypt with IV = its sequence number"
        );
    }
    // --segments and --plan agree with the encrypted run.
    let one = Scratch::new("aes-one");
    run_ok(
        &one.0,
        &[
            "--first-segment-number",
            "1",
            "--encryption-key",
            key,
            "--segments",
            "2",
            input,
        ],
    );
    assert!(one.read(&uris[1]) == secret.read(&uris[1]));
    let out = run_ok(
        &one.0,
        &[
            "--first-segment-number",
            "1",
            "--encryption-key",
            key,
            "--plan",
            input,
        ],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["segments"][0]["size"].as_u64(),
        Some(secret.read(&uris[0]).len() as u64)
    );

    // Random IV: one IV for the run, written into the playlist.
    let (random, _, _) = whole(
        "aes-rand",
        input,
        &["--encryption-key", key, "--encryption-iv-mode", "random"],
    );
    let playlist = random.text("stream.m3u8");
    let iv = playlist
        .split(",IV=0x")
        .nth(1)
        .map(|rest| rest[..32].to_string())
        .unwrap_or_else(|| panic!("no IV in {playlist}"));
    let (clear0, _, uris0) = whole("aes-clear0", input, &[]);
    assert!(openssl_decrypt(&random.path(&uris0[0]), key, &iv) == clear0.read(&uris0[0]));
}

#[test]
fn single_file_byte_ranges_hold_the_segments() {
    let input = media("clip_low.mp4");
    let input = input.to_str().unwrap();
    let (split, _, uris) = whole("split", input, &[]);
    let (single, _, single_uris) = whole("single", input, &["--output-single-file"]);
    assert_eq!(
        single.files(),
        vec!["stream.m3u8".to_string(), "stream.ts".to_string()]
    );
    let playlist = single.text("stream.m3u8");
    assert!(playlist.contains("#EXT-X-VERSION:4\n"));
    let ranges: Vec<(usize, usize)> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-BYTERANGE:"))
        .map(|r| {
            let (len, at) = r.split_once('@').unwrap();
            (len.parse().unwrap(), at.parse().unwrap())
        })
        .collect();
    assert_eq!(ranges.len(), uris.len());
    assert!(single_uris.iter().all(|u| u == "stream.ts"));
    let data = single.read("stream.ts");
    for ((len, at), uri) in ranges.iter().zip(&uris) {
        assert!(
            data[*at..*at + *len] == split.read(uri)[..],
            "{uri} differs inside the single file"
        );
    }
    assert_eq!(ranges.last().map(|(l, a)| l + a), Some(data.len()));
}

#[test]
fn iframe_playlist_ranges_cover_keyframes() {
    let input = media("clip_low.mp4");
    let (dir, _, _) = whole(
        "iframes",
        input.to_str().unwrap(),
        &["--iframe-index-filename", "iframes.m3u8"],
    );
    let text = dir.text("iframes.m3u8");
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:4\n"), "{text}");
    assert!(text.contains("#EXT-X-I-FRAMES-ONLY\n"));
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = 0;
    for window in lines.windows(3) {
        let (Some(duration), Some(range)) = (
            window[0].strip_prefix("#EXTINF:"),
            window[1].strip_prefix("#EXT-X-BYTERANGE:"),
        ) else {
            continue;
        };
        entries += 1;
        assert!(
            (duration.trim_end_matches(',').parse::<f64>().unwrap() - 2.0).abs() < 1e-6,
            "GOP of 2 s"
        );
        let (len, at) = range.split_once('@').unwrap();
        let (len, at): (usize, usize) = (len.parse().unwrap(), at.parse().unwrap());
        let data = dir.read(window[2]);
        let packets = packets(&data[at..at + len]);
        assert_eq!(packets[0].pid, 0, "range starts with the PAT");
        assert_eq!(packets[1].pid, 0x100, "then the PMT");
        assert!(packets[2].pid == 0x102 && packets[2].unit_start && packets[2].random_access);
        // The range ends where the keyframe's PES ends.
        let video: Vec<_> = packets[2..].iter().filter(|p| p.pid == 0x102).collect();
        assert!(
            video.iter().skip(1).all(|p| !p.unit_start),
            "one video PES in the range"
        );
        if let Some(next) = data.get(at + len..).filter(|rest| !rest.is_empty()) {
            let after = crate::mp42hls_support::packets(next);
            if let Some(p) = after.iter().find(|p| p.pid == 0x102) {
                assert!(p.unit_start, "the keyframe's PES continues past its range");
            }
        }
    }
    assert_eq!(entries, 15, "30 s at one keyframe per 2 s");
}

#[test]
fn show_info_measures_the_written_files() {
    for name in ["clip_low", "audio_only", "hevc"] {
        let input = media(&format!("{name}.mp4"));
        let scratch = Scratch::new(&format!("info-{name}"));
        let out = run_ok(&scratch.0, &["--show-info", input.to_str().unwrap()]);
        let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs: serde_json::Value =
            serde_json::from_str(&reference(&format!("{name}.d6.show-info.json"))).unwrap();
        assert_eq!(ours["audio"], theirs["audio"], "{name}: audio codec");
        assert_eq!(
            ours["video"], theirs["video"],
            "{name}: video codec and size"
        );
        assert_eq!(ours["stats"]["duration"], theirs["stats"]["duration"]);
        assert_eq!(ours["stats"]["frame_rate"], theirs["stats"]["frame_rate"]);
        let (extinf, _, uris) = playlist_entries(&scratch.text("stream.m3u8"));
        let sizes: Vec<f64> = uris.iter().map(|u| scratch.read(u).len() as f64).collect();
        let total: f64 = extinf.iter().sum();
        let average = sizes.iter().sum::<f64>() * 8.0 / total;
        let max = sizes
            .iter()
            .zip(&extinf)
            .map(|(s, d)| s * 8.0 / d)
            .fold(0.0, f64::max);
        let stats = &ours["stats"];
        // EXTINF is printed to 6 decimals, hence a relative tolerance.
        let close = |a: f64, b: f64| (a - b).abs() <= b * 1e-6;
        assert!(
            close(stats["avg_segment_bitrate"].as_f64().unwrap(), average),
            "{name}: {stats} vs {average}"
        );
        assert!(
            close(stats["max_segment_bitrate"].as_f64().unwrap(), max),
            "{name}: {stats} vs {max}"
        );
        let iframe = stats["avg_iframe_bitrate"].as_f64().unwrap();
        assert_eq!(
            iframe > 0.0,
            ours.get("video").is_some(),
            "{name}: I-frame rate only with video"
        );
    }
}

/// Top-level boxes of an MP4: (type, offset, size), for 32-bit sizes.
fn top_level_boxes(data: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        assert!(size >= 8, "test media use 32-bit box sizes");
        boxes.push((kind, at, size));
        at += size;
    }
    boxes
}

#[test]
fn plan_does_not_depend_on_sample_bytes() {
    // Zero every mdat payload: the index is untouched, the media is gone. The plan
    // (sizes included) must not change, since it comes from the index alone.
    let original = media("clip_low.mp4");
    let mut data = std::fs::read(&original).unwrap();
    let mdats: Vec<_> = top_level_boxes(&data)
        .into_iter()
        .filter(|(k, _, _)| k == b"mdat")
        .collect();
    assert!(!mdats.is_empty());
    for (_, at, size) in mdats {
        data[at + 8..at + size].fill(0);
    }
    let scratch = Scratch::new("plan-zeroed");
    let zeroed = scratch.path("zeroed.mp4");
    std::fs::write(&zeroed, &data).unwrap();
    let plan_of =
        |path: &str| run_ok(&scratch.0, &["--plan", "--first-segment-number", "1", path]).stdout;
    assert_eq!(
        plan_of(zeroed.to_str().unwrap()),
        plan_of(original.to_str().unwrap())
    );
    // Muxing the zeroed file fails cleanly: its NAL lengths are now zero.
    let out = run_in(&scratch.0, &["--segments", "0", zeroed.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scratch.files(), vec!["zeroed.mp4".to_string()]);
}

#[test]
fn decimal_segment_durations() {
    // Keyframes every 2 s: a 2.5 s target cuts at the first keyframe from 2.485 s on.
    let input = media("clip_low.mp4");
    let (_, extinf, _) = whole(
        "decimal",
        input.to_str().unwrap(),
        &["--segment-duration", "2.5"],
    );
    assert_eq!(extinf, vec![4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 2.0]);
    let (_, extinf, _) = whole(
        "decimal-b",
        input.to_str().unwrap(),
        &["--segment-duration", "1.99"],
    );
    assert_eq!(extinf, vec![2.0; 15]);
}

#[test]
fn plan_ranges_are_all_a_segment_reads() {
    // Keep the index and only the bytes the plan lists for segment 2; zero the rest
    // of every mdat. `--segments 2` of that file must equal the original's.
    let original = media("clip_low.mp4");
    let data = std::fs::read(&original).unwrap();
    let scratch = Scratch::new("plan-ranges");
    let out = run_ok(
        &scratch.0,
        &[
            "--plan",
            "--first-segment-number",
            "1",
            original.to_str().unwrap(),
        ],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranges = plan["segments"][1]["ranges"].as_array().unwrap();
    assert!(!ranges.is_empty());
    let mut kept = data.clone();
    for (kind, at, size) in top_level_boxes(&data) {
        if &kind == b"mdat" {
            kept[at + 8..at + size].fill(0);
        }
    }
    let mut last_end = 0;
    for range in ranges {
        let (start, end) = (
            range[0].as_u64().unwrap() as usize,
            range[1].as_u64().unwrap() as usize,
        );
        assert!(
            start >= last_end && end > start && end <= data.len(),
            "sorted, disjoint"
        );
        last_end = end;
        kept[start..end].copy_from_slice(&data[start..end]);
    }
    let kept_path = scratch.path("kept.mp4");
    std::fs::write(&kept_path, &kept).unwrap();
    let segment_of = |input: &str, dir: &Scratch| {
        run_ok(
            &dir.0,
            &["--first-segment-number", "1", "--segments", "2", input],
        );
        let files: Vec<String> = dir
            .files()
            .into_iter()
            .filter(|f| f.ends_with(".ts"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        dir.read(&files[0])
    };
    let (a, b) = (Scratch::new("plan-ranges-a"), Scratch::new("plan-ranges-b"));
    assert!(
        segment_of(original.to_str().unwrap(), &a) == segment_of(kept_path.to_str().unwrap(), &b)
    );
}
