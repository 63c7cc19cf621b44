//! Sidecar subtitles (`[subtitles]`): `title_<lang>.vtt` (or `.srt`) beside `title.mp4` is
//! offered in the title's masters as a `SUBTITLES` group, served as a one-segment
//! playlist and the text with an `X-TIMESTAMP-MAP` on the segments' own clock; a broken
//! sidecar is left out, never a failed master; ffmpeg reads it all.

use crate::common::*;
use std::process::Command;

const CUES: &str =
    "\n\n00:00:01.000 --> 00:00:03.000\nHello\n\n00:00:10.000 --> 00:00:12.500\nWorld\n";

fn stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let en = write("en.vtt", format!("WEBVTT{CUES}").as_bytes());
    let fr = write(
        "fr.vtt",
        format!("\u{feff}WEBVTT{CUES}")
            .replace('\n', "\r\n")
            .as_bytes(),
    );
    let de = write(
        "de.vtt",
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xff\xfe\n",
    );
    // SubRip sidecars are served as WebVTT; one with broken timing is left out too.
    let pt = write(
        "pt.srt",
        b"1\r\n00:00:01,000 --> 00:00:03,000\r\nOla\r\n\r\n2\r\n00:00:10,000 --> 00:00:12,500\r\nMundo\r\n",
    );
    let it = write("it.srt", b"1\n00:00:05,000 --> 00:00:01,000\nCiao\n");
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .file_as(&en, "clip_low_en.vtt")
        .file_as(&fr, "clip_low_fr.vtt")
        .file_as(&de, "clip_low_de.vtt")
        .file_as(&pt, "clip_low_pt.srt")
        .file_as(&it, "clip_low_it.srt")
        .config("subtitles", r#"languages = ["en", "fr", "de", "pt", "it"]"#)
        .config("subtitles", r#"default_language = "fr""#)
        .start()
}

fn media_lines(master: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .collect()
}

/// The first video PTS (90 kHz) of `path` (its first frames in decode order), as
/// ffprobe reads it over HTTP.
fn first_video_pts(stack: &Stack, path: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts",
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#3",
        ])
        .args(["-of", "csv=p=0"])
        .arg(stack.url(path))
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .filter_map(|n| n.trim_end_matches(',').parse().ok())
        .min()
        .unwrap_or_else(|| panic!("{path}: ffprobe said {text:?}"))
}

#[test]
fn sidecars_are_offered_served_and_timed_on_the_segments_clock() {
    let stack = stack();
    let master = stack.get("/i/clip_low.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let subtitles = media_lines(&text);
    let languages: Vec<&str> = subtitles.iter().map(|m| m["LANGUAGE"].as_str()).collect();
    assert_eq!(
        languages,
        ["en", "fr", "pt"],
        "the broken de and it sidecars are left out: {text}"
    );
    for m in &subtitles {
        assert_eq!(m["TYPE"], "SUBTITLES");
        assert_eq!(m["GROUP-ID"], "subs");
        assert_eq!(m["AUTOSELECT"], "YES");
        let default = if m["LANGUAGE"] == "fr" { "YES" } else { "NO" };
        assert_eq!(m["DEFAULT"], default, "{m:?}");
    }
    assert_eq!(subtitles[1]["NAME"], "Français");
    for (attrs, _) in variants(&text) {
        assert_eq!(attrs["SUBTITLES"], "subs", "{attrs:?}");
    }

    let playlist = stack.get("/i/clip_low.mp4/subtitles_fr.m3u8");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    assert_eq!(
        playlist.header("content-type"),
        "application/vnd.apple.mpegurl"
    );
    // Segmented as the title is: the same durations, one WebVTT file per segment.
    let title: Vec<f64> = segments(&stack.get("/i/clip_low.mp4/index_0_av.m3u8").text())
        .iter()
        .map(|(d, _)| *d)
        .collect();
    let listed = segments(&playlist.text());
    let durations: Vec<f64> = listed.iter().map(|(d, _)| *d).collect();
    assert_eq!(durations, title);
    let names: Vec<&str> = listed.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(names[..2], ["subtitles_fr_1.vtt", "subtitles_fr_2.vtt"]);
    let cue_text = |k: usize| {
        let vtt = stack.get(&format!("/i/clip_low.mp4/subtitles_fr_{k}.vtt"));
        assert_eq!(vtt.status, 200, "{k}: {}", vtt.text());
        assert_eq!(vtt.header("content-type"), "text/vtt");
        vtt.text()
    };
    // 6 s segments: Hello (1-3 s) in the first, World (10-12.5 s) across the boundary
    // at 12 s, so in the second and the third; the fourth has none.
    let world = "00:00:10.000 --> 00:00:12.500\nWorld\n";
    let (first, second, third, fourth) = (cue_text(1), cue_text(2), cue_text(3), cue_text(4));
    assert!(
        first.contains("Hello") && !first.contains("World"),
        "{first:?}"
    );
    assert!(
        second.contains(world) && third.contains(world),
        "{second:?} {third:?}"
    );
    assert!(!fourth.contains("-->"), "{fourth:?}");
    let body = second;
    assert!(
        body.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:"),
        "{body:?}"
    );
    assert!(!body.contains('\r'));
    for k in [1, 3, 4] {
        assert_eq!(
            cue_text(k).lines().nth(1),
            body.lines().nth(1),
            "one map for all"
        );
    }
    assert_eq!(
        stack
            .get(&format!(
                "/i/clip_low.mp4/subtitles_fr_{}.vtt",
                title.len() + 1
            ))
            .status,
        404
    );
    // The map puts cue time 0 on the TS clock where the first frame is presented.
    let mpegts: u64 = body
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("X-TIMESTAMP-MAP=MPEGTS:"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("MPEGTS value");
    assert_eq!(
        mpegts,
        first_video_pts(&stack, "/i/clip_low.mp4/segment1_0_av.ts")
    );
    // Cached like the rest: nginx answers the second time alone.
    let again = stack.get("/i/clip_low.mp4/subtitles_fr_2.vtt");
    assert_eq!(again.header("x-casterpak-cache"), "HIT");
    assert_eq!(again.text(), body);

    let pt = stack.get("/i/clip_low.mp4/subtitles_pt_2.vtt");
    assert_eq!(pt.status, 200, "{}", pt.text());
    let body = pt.text();
    assert!(
        body.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:"),
        "{body:?}"
    );
    assert!(
        body.ends_with("\n\n00:00:10.000 --> 00:00:12.500\nMundo\n"),
        "{body:?}"
    );
    for path in [
        "/i/clip_low.mp4/subtitles_de.m3u8",
        "/i/clip_low.mp4/subtitles_de_1.vtt",
        "/i/clip_low.mp4/subtitles_it_1.vtt",
        "/i/clip_low.mp4/subtitles_es_1.vtt",
        "/i/clip_medium.mp4/subtitles_en_1.vtt",
        "/i/clip_low.mp4/subtitles_fr_0.vtt",
        "/i/clip_low.mp4/subtitles_fr.vtt",
        "/i/clip_low.mp4/subtitles_EN_1.vtt",
    ] {
        assert_eq!(stack.get(path).status, 404, "{path}");
    }
    // A bad sidecar is left out with a line in the log saying why.
    let log = stack.worker_log();
    for why in [
        "clip_low_de.vtt\" left out: not UTF-8",
        "clip_low_it.srt\" left out: cue ends before it starts",
    ] {
        assert!(log.contains(why), "{why} not in the log:\n{log}");
    }
    assert!(media_lines(&stack.get("/i/clip_medium.mp4/master.m3u8").text()).is_empty());

    // A csmil lists its first rendition's sidecars, by their own URLs; clips list none.
    let csmil = "/i/clip_,low,medium,.mp4.csmil/master.m3u8";
    let text = stack.get(csmil).text();
    let uris: Vec<String> = media_lines(&text)
        .iter()
        .map(|m| m["URI"].clone())
        .collect();
    assert_eq!(
        uris,
        [
            "../clip_low.mp4/subtitles_en.m3u8",
            "../clip_low.mp4/subtitles_fr.m3u8",
            "../clip_low.mp4/subtitles_pt.m3u8"
        ]
    );
    assert_eq!(stack.get(&resolve(csmil, &uris[0])).status, 200);
    assert_ffmpeg_decodes(&stack, csmil, "csmil with subtitles");

    // A clip lists them too: each subtitle playlist carries the clip and lists the
    // segments the clip's video playlist lists, with the same durations, its WebVTT
    // segments the title's own; nginx serves the clip's playlist from the cache after.
    let clipped_path = format!("{csmil}?start=2&end=11");
    let clipped = stack.get(&clipped_path).text();
    let listed: Vec<String> = media_lines(&clipped)
        .iter()
        .map(|m| m["URI"].clone())
        .collect();
    assert_eq!(listed.len(), 3, "{clipped}");
    assert_eq!(
        listed[0],
        "../clip_low.mp4/subtitles_en.m3u8?start=2&end=11"
    );
    let video_uri = variants(&clipped)
        .into_iter()
        .map(|(_, uri)| uri)
        .find(|uri| uri.starts_with("../clip_low.mp4/"))
        .expect("the clip_low variant");
    let video = stack.get(&resolve(&clipped_path, &video_uri)).text();
    let subtitle_path = resolve(&clipped_path, &listed[0]);
    let playlist = stack.get(&subtitle_path);
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let playlist = playlist.text();
    let sequence = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .map(str::to_string)
    };
    assert_eq!(sequence(&playlist), sequence(&video), "{playlist}\n{video}");
    let (cues, pictures) = (segments(&playlist), segments(&video));
    assert_eq!(
        cues.iter()
            .map(|(d, _)| format!("{d:.6}"))
            .collect::<Vec<_>>(),
        pictures
            .iter()
            .map(|(d, _)| format!("{d:.6}"))
            .collect::<Vec<_>>(),
        "{playlist}\n{video}"
    );
    let first = sequence(&playlist).unwrap().parse::<usize>().unwrap();
    let mut text = String::new();
    for (i, (_, uri)) in cues.iter().enumerate() {
        assert_eq!(
            uri,
            &format!("subtitles_en_{}.vtt", first + i),
            "{playlist}"
        );
        text.push_str(&stack.get(&resolve(&subtitle_path, uri)).text());
    }
    assert!(text.contains("Hello") && text.contains("World"), "{text}");
    assert_eq!(stack.get(&subtitle_path).header("x-casterpak-cache"), "HIT");
    assert_ffmpeg_decodes(&stack, &clipped_path, "clipped csmil with subtitles");
}

/// The MP4's own `mov_text` (tx3g) track is a subtitle rendition beside a SubRip
/// sidecar: listed with the track's language, served as WebVTT on the segments' clock,
/// read by ffmpeg; the chapter track (QuickTime text) is no subtitle.
#[test]
fn a_timed_text_track_is_offered_beside_the_sidecars() {
    let stack = Stack::builder()
        .media("subtitled.mp4")
        // MSOD's other naming, `<lang>_<identifier>`, and a forced language.
        .file_as(&media("subtitled_fr.srt"), "fr_subtitled.srt")
        .config("subtitles", r#"languages = ["fr"]"#)
        .config("subtitles", r#"default_language = "en""#)
        .config("subtitles", r#"file_pattern = "lang_identifier""#)
        .config("subtitles", r#"forced_languages = ["fr"]"#)
        .start();
    let master = stack.get("/i/subtitled.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let listed: Vec<[String; 5]> = media_lines(&text)
        .into_iter()
        .map(|m| {
            ["LANGUAGE", "NAME", "DEFAULT", "FORCED", "URI"]
                .map(|k| m.get(k).cloned().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        listed,
        [
            ["fr", "Français", "NO", "YES", "subtitles_fr.m3u8"],
            ["en", "English", "YES", "NO", "subtitles_t3.m3u8"],
        ]
        .map(|row| row.map(String::from)),
        "{text}"
    );
    let segment = |name: &str| {
        let vtt = stack.get(&format!("/i/subtitled.mp4/{name}"));
        assert_eq!(vtt.status, 200, "{name}: {}", vtt.text());
        assert_eq!(vtt.header("content-type"), "text/vtt");
        vtt.text()
    };
    let body = segment("subtitles_t3_1.vtt") + &segment("subtitles_t3_2.vtt");
    let mpegts = format!(
        "X-TIMESTAMP-MAP=MPEGTS:{},LOCAL:00:00:00.000\n",
        first_video_pts(&stack, "/i/subtitled.mp4/segment1_0_av.ts")
    );
    assert!(body.starts_with(&format!("WEBVTT\n{mpegts}")), "{body:?}");
    assert!(
        body.contains("\n00:00:01.000 --> 00:00:04.000\nHello from the track\n")
            && body.contains("\n00:00:07.500 --> 00:00:12.000\nFish &amp; chips\n"),
        "{body:?}"
    );
    let sidecar = segment("subtitles_fr_3.vtt");
    assert!(
        sidecar.contains("00:00:14.000 --> 00:00:18.000\nAu revoir\n"),
        "{sidecar:?}"
    );
    for path in [
        "/i/subtitled.mp4/subtitles_t4_1.vtt",
        "/i/subtitled.mp4/subtitles_t4.m3u8",
        "/i/subtitled.mp4/subtitles_t9_1.vtt",
        "/i/subtitled.mp4/subtitles_t03_1.vtt",
        "/i/subtitled.mp4/subtitles_t0_1.vtt",
        "/i/subtitled.mp4/subtitles_t3_5.vtt",
    ] {
        assert_eq!(stack.get(path).status, 404, "{path}");
    }
    // ffmpeg reads the cues back through the subtitle playlist.
    let cues = ffmpeg_webvtt(&stack, "/i/subtitled.mp4/subtitles_t3.m3u8");
    assert!(cues.contains("Hello from the track"), "ffmpeg: {cues}");
    assert_ffmpeg_decodes(
        &stack,
        "/i/subtitled.mp4/master.m3u8",
        "master with subtitles",
    );
}

/// CMAF HLS lists the same subtitles (`/c/…/subtitles_<lang>.m3u8`, the same sidecars
/// and tracks), their WebVTT segments on CMAF's clock: the `X-TIMESTAMP-MAP` is where
/// the CMAF video's first frame is presented; cached, and ffmpeg reads it all.
#[test]
fn cmaf_masters_list_the_subtitles_on_their_own_clock() {
    let stack = stack();
    let master = stack.get("/c/clip_low.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let subtitles: Vec<(String, String)> = media_lines(&text)
        .into_iter()
        .filter(|m| m["TYPE"] == "SUBTITLES")
        .map(|m| (m["LANGUAGE"].clone(), m["URI"].clone()))
        .collect();
    let languages: Vec<&str> = subtitles.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(languages, ["en", "fr", "pt"], "{text}");
    assert_eq!(subtitles[1].1, "subtitles_fr.m3u8");
    for (attrs, _) in variants(&text) {
        assert_eq!(attrs["SUBTITLES"], "subs", "{attrs:?}");
    }
    let playlist = stack.get("/c/clip_low.mp4/subtitles_fr.m3u8");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let cues = segments(&playlist.text());
    let video = segments(&stack.get("/c/clip_low.mp4/index_0_v.m3u8").text());
    assert_eq!(cues.len(), video.len(), "{}", playlist.text());
    let first = stack.get(&format!("/c/clip_low.mp4/{}", cues[0].1));
    assert_eq!(first.status, 200, "{}", first.text());
    // The first frame's presentation time, read from the files as the spec defines it
    // (tfdt + its signed trun composition offset, in mdhd's scale): ffprobe shifts
    // presentation by the most negative offset, players do not.
    let init = stack.get("/c/clip_low.mp4/init_0_v.mp4").body;
    let segment = stack.get("/c/clip_low.mp4/segment1_0_v.m4s").body;
    let mpegts = presentation_start_90k(&init, &segment);
    let map = format!("X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n");
    assert!(first.text().contains(&map), "{map} in {}", first.text());
    assert!(first.text().contains("Hello"), "{}", first.text());
    let ts = stack.get("/i/clip_low.mp4/subtitles_fr_1.vtt").text();
    assert!(!ts.contains(&map), "the TS clock differs: {ts}");
    assert_eq!(
        stack
            .get(&format!("/c/clip_low.mp4/{}", cues[0].1))
            .header("x-casterpak-cache"),
        "HIT"
    );
    let csmil = "/c/clip_,low,medium,.mp4.csmil/master.m3u8";
    let listed: Vec<String> = media_lines(&stack.get(csmil).text())
        .into_iter()
        .filter(|m| m["TYPE"] == "SUBTITLES")
        .map(|m| m["URI"].clone())
        .collect();
    assert_eq!(listed[0], "../clip_low.mp4/subtitles_en.m3u8");
    assert_eq!(stack.get(&resolve(csmil, &listed[0])).status, 200);
    assert_ffmpeg_decodes(&stack, "/c/clip_low.mp4/master.m3u8", "CMAF with subtitles");
}

/// When the first sample of a CMAF video segment is presented, in 90 kHz ticks.
fn presentation_start_90k(init: &[u8], segment: &[u8]) -> u64 {
    let first = fmp4::first_frame(init, segment);
    first.start * 90_000 / first.timescale
}
