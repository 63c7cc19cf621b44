//! `--segments K --trim-start/--trim-end`: a clip's first and last segments, cut at
//! a keyframe inside segment K. The trimmed start begins with that keyframe and ends
//! on the counters the untrimmed segment ends on (so the title's next segment follows
//! without a jump); the trimmed end is the untrimmed segment's prefix up to the
//! keyframe. Both decode silently with their neighbours.

use crate::mp42hls_support::*;

const VIDEO_PID: u16 = 0x102;

fn segment(scratch: &Scratch, k: u64, extra: &[&str], name: &str) -> Vec<u8> {
    let input = media("a_720p_60s.mp4");
    let number = k.to_string();
    let template = format!("{name}%d.ts");
    let mut args = vec![
        "--first-segment-number",
        "1",
        "--segments",
        &number,
        "--segment-filename-template",
        &template,
    ];
    args.extend_from_slice(extra);
    args.push(input.to_str().unwrap());
    run_ok(&scratch.0, &args);
    scratch.read(&format!("{name}{k}.ts"))
}

/// (first, last) continuity counter per PID.
fn counters(data: &[u8]) -> std::collections::BTreeMap<u16, (u8, u8)> {
    let mut out = std::collections::BTreeMap::new();
    for p in packets(data) {
        out.entry(p.pid)
            .and_modify(|e: &mut (u8, u8)| e.1 = p.continuity)
            .or_insert((p.continuity, p.continuity));
    }
    out
}

fn first_video_pts(data: &[u8]) -> f64 {
    let packets = packets(data);
    let first = packets
        .iter()
        .find(|p| p.pid == VIDEO_PID && p.unit_start)
        .expect("a video PES");
    assert!(first.random_access, "the first video PES is not a keyframe");
    pes_times(&first.payload).0 as f64 / 90_000.0
}

#[test]
fn trimmed_start_begins_at_its_keyframe_and_continues_into_the_next_segment() {
    let scratch = Scratch::new("trim-start");
    let plain3 = segment(&scratch, 3, &[], "plain");
    let plain4 = segment(&scratch, 4, &[], "plain");
    // Segment 3 is 12..18 s with keyframes at 12, 14, 16: 14.5 cuts at 14.
    let trimmed = segment(&scratch, 3, &["--trim-start", "14.5"], "start");
    let shift = first_video_pts(&plain3) - 12.0;
    let start = first_video_pts(&trimmed) - shift;
    println!(
        "trimmed segment 3 starts at {start:.3} s, {} of {} bytes",
        trimmed.len(),
        plain3.len()
    );
    assert!((start - 14.0).abs() < 0.001, "starts at {start}");
    assert!(trimmed.len() < plain3.len());
    let (ends, plain_ends, next) = (counters(&trimmed), counters(&plain3), counters(&plain4));
    for (pid, (first, _)) in &next {
        assert_eq!(
            ends[pid].1, plain_ends[pid].1,
            "PID {pid:#x}: ends on another counter"
        );
        assert_eq!(
            (ends[pid].1 + 1) % 16,
            *first,
            "PID {pid:#x}: segment 4 jumps"
        );
    }
    // Exactly on a keyframe: the same cut.
    assert!(segment(&scratch, 3, &["--trim-start", "14"], "exact") == trimmed);
    // At or before the segment's first keyframe: the untrimmed segment.
    assert!(segment(&scratch, 3, &["--trim-start", "12.9"], "none") == plain3);
    std::fs::write(
        scratch.path("clip.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:4.0,\nstart3.ts\n#EXTINF:6.0,\nplain4.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    assert_ffmpeg_decodes(&scratch.path("clip.m3u8"), "trimmed start then segment 4");
}

#[test]
fn trimmed_end_is_the_segments_prefix_up_to_its_keyframe() {
    let scratch = Scratch::new("trim-end");
    // Written for the playlist below.
    segment(&scratch, 6, &[], "plain");
    let plain7 = segment(&scratch, 7, &[], "plain");
    // Segment 7 is 36..42 s: 39.5 ends before the keyframe at 40.
    let trimmed = segment(&scratch, 7, &["--trim-end", "39.5"], "end");
    assert!(trimmed.len() < plain7.len());
    assert!(plain7.starts_with(&trimmed[..188 * 4]), "another start");
    assert_eq!(
        counters(&trimmed).values().map(|c| c.0).collect::<Vec<_>>(),
        counters(&plain7).values().map(|c| c.0).collect::<Vec<_>>()
    );
    let duration: f64 = ffprobe(&[
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "csv=p=0",
        scratch.path("end7.ts").to_str().unwrap(),
    ])
    .trim()
    .parse()
    .unwrap();
    println!(
        "trimmed segment 7: {duration:.3} s, {} of {} bytes",
        trimmed.len(),
        plain7.len()
    );
    assert!((duration - 4.0).abs() < 0.1, "lasts {duration}");
    std::fs::write(
        scratch.path("clip.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:6.0,\nplain6.ts\n#EXTINF:4.0,\nend7.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    assert_ffmpeg_decodes(&scratch.path("clip.m3u8"), "segment 6 then trimmed end");
}

#[test]
fn trim_options_need_one_segment() {
    let scratch = Scratch::new("trim-usage");
    let input = media("a_720p_60s.mp4");
    let input = input.to_str().unwrap();
    for args in [
        vec!["--trim-start", "3", input],
        vec!["--segments", "2-3", "--trim-end", "9", input],
        vec!["--segments", "2", "--trim-start", "-1", input],
        vec!["--segments", "2", "--trim-end", "x", input],
    ] {
        let out = run_in(&scratch.0, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
}
