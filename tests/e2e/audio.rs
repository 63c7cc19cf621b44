//! Alternate audio (issue 12): a title with an English and a French AAC track and an
//! English AC-3 track is offered as `EXT-X-MEDIA:TYPE=AUDIO` renditions grouped by
//! codec, its variants carry the video alone; each stream is its own TS on the
//! muxed title's clock; titles with one audio track stay muxed; ffmpeg plays it all.

use crate::common::*;
use std::collections::BTreeMap;
use std::process::Command;

const CSMIL: &str = "/i/,multi_audio,clip_low,.mp4.csmil";

/// The titles, with `[audio]` lines.
fn stack(audio: &[&str]) -> Stack {
    let mut builder = Stack::builder()
        .media("multi_audio.mp4")
        .media("clip_low.mp4")
        .media("audio_only.mp4");
    for line in audio {
        builder = builder.config("audio", line);
    }
    builder.start()
}

fn audio_lines(master: &str) -> Vec<BTreeMap<String, String>> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .filter(|a| a.get("TYPE").map(String::as_str) == Some("AUDIO"))
        .collect()
}

fn get_ok(stack: &Stack, path: &str) -> Vec<u8> {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.body
}

/// (codec_type, start_pts) of each stream of a TS file, as ffprobe reads it.
fn streams_of(stack: &Stack, path: &str) -> Vec<(String, i64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_pts",
        ])
        .args(["-of", "csv=p=0"])
        .arg(stack.url(path))
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut streams: Vec<(String, i64)> = Vec::new();
    // The program's list repeats the streams.
    for line in text.lines() {
        let Some((kind, pts)) = line.split_once(',') else {
            continue;
        };
        let stream = (kind.to_string(), pts.trim().parse().unwrap_or(i64::MIN));
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    assert!(!streams.is_empty(), "{path}: ffprobe said {text:?}");
    streams
}

/// Every EXT-X-MEDIA rule a player relies on: one DEFAULT per group, every
/// variant's group exists, CODECS holds the group's codec.
fn check_groups(master: &str, path: &str) -> Vec<BTreeMap<String, String>> {
    let audio = audio_lines(master);
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &audio {
        let defaults = groups.entry(&a["GROUP-ID"]).or_default();
        *defaults += usize::from(a["DEFAULT"] == "YES");
        assert_eq!(a["AUTOSELECT"], "YES", "{a:?}");
    }
    assert!(groups.values().all(|&n| n == 1), "{path}: {groups:?}");
    for (attrs, uri) in variants(master) {
        let group = &attrs["AUDIO"];
        assert!(groups.contains_key(group.as_str()), "{path}: {uri} {group}");
        let codec = group.strip_prefix("aud-").expect("group named by codec");
        let codecs: Vec<&str> = attrs["CODECS"].split(',').collect();
        // Video variants: the video codec, then the group's; the audio-only one: its own.
        let video = attrs.contains_key("RESOLUTION");
        assert_eq!(codecs.len(), 1 + usize::from(video), "{path}: {codecs:?}");
        assert!(
            !video || codecs[0].starts_with("avc1."),
            "{path}: {codecs:?}"
        );
        assert_eq!(codecs.last(), Some(&codec), "{path}: {codecs:?}");
    }
    audio
}

#[test]
fn several_audio_tracks_become_audio_renditions_on_one_clock() {
    let stack = stack(&[]);
    let master_path = "/i/multi_audio.mp4/master.m3u8";
    let master = String::from_utf8(get_ok(&stack, master_path)).unwrap();
    let audio = check_groups(&master, master_path);
    let summary: Vec<[&str; 6]> = audio
        .iter()
        .map(|a| {
            [
                &a["GROUP-ID"],
                &a["LANGUAGE"],
                &a["NAME"],
                &a["DEFAULT"],
                &a["CHANNELS"],
                &a["URI"],
            ]
            .map(String::as_str)
        })
        .collect();
    assert_eq!(
        summary,
        [
            [
                "aud-mp4a.40.2",
                "en",
                "English",
                "YES",
                "2",
                "index_0_a2.m3u8"
            ],
            [
                "aud-mp4a.40.2",
                "fr",
                "Français",
                "NO",
                "2",
                "index_0_a3.m3u8"
            ],
            [
                "aud-ac-3",
                "en",
                "English (AC-3)",
                "YES",
                "1",
                "index_0_a4.m3u8"
            ],
        ],
        "{master}"
    );
    let uris: Vec<String> = variants(&master).into_iter().map(|(_, u)| u).collect();
    assert_eq!(uris, ["index_0_v.m3u8", "index_0_v.m3u8"], "{master}");
    assert!(master.contains("#EXT-X-I-FRAME-STREAM-INF:"), "{master}");
    assert_eq!(master.matches("#EXT-X-I-FRAME-STREAM-INF:").count(), 1);

    // Each stream alone in its segments, every one on the muxed title's clock.
    let dir = "/i/multi_audio.mp4";
    let muxed = streams_of(&stack, &format!("{dir}/segment2_0_av.ts"));
    let video = streams_of(&stack, &format!("{dir}/segment2_0_v.ts"));
    let english = streams_of(&stack, &format!("{dir}/segment2_0_a2.ts"));
    let kinds = |s: &[(String, i64)]| s.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&muxed), ["video", "audio"]);
    assert_eq!(kinds(&video), ["video"]);
    assert_eq!(kinds(&english), ["audio"]);
    assert_eq!(video[0].1, muxed[0].1, "video PTS as muxed");
    // The audio alone is cut where the muxed stream is, on the same clock: segment
    // 2 of it starts on the frame muxed segment 2 starts its audio with.
    assert_eq!(
        english[0].1, muxed[1].1,
        "segment 2's first audio PTS as muxed"
    );
    let first = |name: &str| streams_of(&stack, &format!("{dir}/segment1_0_{name}.ts"));
    assert_eq!(
        first("a2")[0].1,
        first("av")[1].1,
        "first audio PTS as muxed"
    );
    // Every audio playlist is cut where the video is: as many segments, and after
    // the first (which also holds the audio before the video's first frame: each
    // playlist counts from its own first sample) every boundary stays within a frame
    // (AAC 1024, AC-3 1536 samples at 48 kHz) of where it was, so the two do not
    // drift apart over a long title.
    let listed_in = |stream: &str| {
        let path = format!("{dir}/index_0_{stream}.m3u8");
        segments(&String::from_utf8(get_ok(&stack, &path)).unwrap())
    };
    let video_segments = listed_in("v");
    for (stream, frame) in [("v", 0.0), ("a2", 1024.0), ("a3", 1024.0), ("a4", 1536.0)] {
        let listed = listed_in(stream);
        let total: f64 = listed.iter().map(|(d, _)| d).sum();
        assert!((total - 30.0).abs() < 0.1, "{stream}: {total} s");
        assert_eq!(listed.len(), video_segments.len(), "{stream}: {listed:?}");
        let mut edge = 0.0;
        for (k, ((d, uri), (vd, _))) in listed.iter().zip(&video_segments).enumerate() {
            assert!(uri.ends_with(&format!("_0_{stream}.ts")), "{stream}: {uri}");
            if k == 0 {
                assert!((d - vd).abs() < 0.1, "{stream}: {listed:?}");
                continue;
            }
            edge += d - vd;
            assert!(
                edge.abs() <= frame / 48_000.0 + 1e-6,
                "{stream}: a boundary {edge} s from the video's: {listed:?}"
            );
        }
    }
    let again = stack.get(master_path);
    assert_eq!(
        again.header("x-casterpak-cache"),
        "HIT",
        "the master is cached"
    );
    assert_eq!(again.text(), master);
    assert_ffmpeg_decodes(&stack, master_path, "the alternate audio master");
    assert_ffmpeg_decodes(&stack, &format!("{dir}/index_0_a3.m3u8"), "French");

    // What the master does not list is not packaged, and does not poison the title.
    for path in [
        "/i/multi_audio.mp4/index_0_a1.m3u8",
        "/i/multi_audio.mp4/index_0_a9.m3u8",
        "/i/multi_audio.mp4/segment1_0_a9.ts",
        "/i/clip_low.mp4/segment1_0_a9.ts",
        "/i/audio_only.mp4/index_0_v.m3u8",
        "/i/multi_audio.mp4/index_0_a02.m3u8",
        "/i/multi_audio.mp4/index_0_a0.m3u8",
    ] {
        let r = stack.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    get_ok(&stack, "/i/multi_audio.mp4/index_0_av.m3u8");

    // One audio track: muxed as before, no group.
    let plain = String::from_utf8(get_ok(&stack, "/i/clip_low.mp4/master.m3u8")).unwrap();
    assert!(!plain.contains("#EXT-X-MEDIA"), "{plain}");
    assert!(!plain.contains("AUDIO="), "{plain}");
    let uris: Vec<String> = variants(&plain).into_iter().map(|(_, u)| u).collect();
    assert_eq!(uris, ["index_0_av.m3u8"]);
    // A clipped master keeps its audio renditions, each carrying the clip, cut where
    // the video is: the same segments listed (trimmed ends included), durations
    // within a frame; every file answers and ffmpeg decodes it all.
    let clipped_path = "/i/multi_audio.mp4/master.m3u8?start=9&end=16";
    let clipped = String::from_utf8(get_ok(&stack, clipped_path)).unwrap();
    let audio = check_groups(&clipped, clipped_path);
    let uris: Vec<&str> = audio.iter().map(|a| a["URI"].as_str()).collect();
    assert_eq!(
        uris,
        [
            "index_0_a2.m3u8?start=9&end=16",
            "index_0_a3.m3u8?start=9&end=16",
            "index_0_a4.m3u8?start=9&end=16"
        ],
        "{clipped}"
    );
    assert!(!clipped.contains("I-FRAME"), "{clipped}");
    let listed = variants(&clipped);
    assert!(
        listed
            .iter()
            .all(|(_, uri)| uri == "index_0_v.m3u8?start=9&end=16"),
        "{clipped}"
    );
    let text_of = |uri: &str| {
        String::from_utf8(get_ok(&stack, &format!("/i/multi_audio.mp4/{uri}"))).unwrap()
    };
    let video_playlist = text_of("index_0_v.m3u8?start=9&end=16");
    let video = segments(&video_playlist);
    assert!(video.len() >= 2, "{video_playlist}");
    // Keyframes every 2 s: 9 s cuts segment 2 at 8 s, 16 s cuts segment 3 at 16 s.
    assert!(
        video[0].1.contains("?start="),
        "cut at a keyframe inside: {video_playlist}"
    );
    assert!(
        video[video.len() - 1].1.contains("end="),
        "{video_playlist}"
    );
    for uri in &uris {
        let playlist = text_of(uri);
        let list = segments(&playlist);
        assert_eq!(list.len(), video.len(), "{uri}: {playlist}");
        for ((d, u), (vd, vu)) in list.iter().zip(&video) {
            let number = |u: &str| u.split('_').next().unwrap_or_default().to_string();
            assert_eq!(number(u), number(vu), "{uri}: {playlist}");
            assert_eq!(u.contains('?'), vu.contains('?'), "{uri}: {playlist}");
            assert!((d - vd).abs() < 0.05, "{uri}: {d} against {vd}");
            get_ok(&stack, &format!("/i/multi_audio.mp4/{u}"));
        }
    }
    assert_ffmpeg_decodes(
        &stack,
        clipped_path,
        "the clipped master with alternate audio",
    );
}

#[test]
fn a_csmil_takes_its_audio_from_one_rendition_in_the_preferred_language_and_an_audio_only_variant()
{
    let stack = stack(&[r#"default_language = "fr""#, "audio_only_variant = true"]);
    let master_path = format!("{CSMIL}/master.m3u8");
    let master = String::from_utf8(get_ok(&stack, &master_path)).unwrap();
    let audio = check_groups(&master, &master_path);
    let defaults: Vec<(&str, &str)> = audio
        .iter()
        .filter(|a| a["DEFAULT"] == "YES")
        .map(|a| (a["LANGUAGE"].as_str(), a["URI"].as_str()))
        .collect();
    assert_eq!(
        defaults,
        [
            ("fr", "../multi_audio.mp4/index_0_a3.m3u8"),
            ("en", "../multi_audio.mp4/index_0_a4.m3u8")
        ],
        "{master}"
    );
    let listed = variants(&master);
    // MSOD's audio-only variant: the lowest rendition's audio, in its codec's group.
    let (audio_only, uri) = listed.first().expect("variants");
    assert_eq!(uri, "../clip_low.mp4/index_0_a2.m3u8", "{master}");
    assert_eq!(audio_only["CODECS"], "mp4a.40.2");
    assert_eq!(audio_only["AUDIO"], "aud-mp4a.40.2");
    assert!(!audio_only.contains_key("RESOLUTION"));
    let bandwidth: u64 = audio_only["BANDWIDTH"].parse().unwrap();
    assert!((64_000..150_000).contains(&bandwidth), "{bandwidth}");
    let mut uris: Vec<String> = listed.into_iter().skip(1).map(|(_, u)| u).collect();
    uris.dedup();
    assert_eq!(
        uris,
        [
            "../clip_low.mp4/index_0_v.m3u8",
            "../multi_audio.mp4/index_0_v.m3u8"
        ],
        "{master}"
    );
    // A title with one audio track: its audio alone, beside its muxed variant.
    let single = String::from_utf8(get_ok(&stack, "/i/clip_low.mp4/master.m3u8")).unwrap();
    let uris: Vec<String> = variants(&single).into_iter().map(|(_, u)| u).collect();
    assert_eq!(uris, ["index_0_a2.m3u8", "index_0_av.m3u8"], "{single}");
    assert!(!single.contains("AUDIO="), "{single}");
    assert_ffmpeg_decodes(&stack, "/i/clip_low.mp4/index_0_a2.m3u8", "the audio alone");
    // The csmil-relative forms too: playlists and segments through the csmil dir.
    for path in [
        format!("{CSMIL}/index_1_v.m3u8"),
        format!("{CSMIL}/index_0_a3.m3u8"),
    ] {
        let playlist = String::from_utf8(get_ok(&stack, &path)).unwrap();
        let (_, first) = segments(&playlist).into_iter().next().expect("a segment");
        let body = get_ok(&stack, &resolve(&path, &first));
        assert_transport_stream(&body, &first);
    }
    assert_ffmpeg_decodes(&stack, &master_path, "the csmil master");
}

/// Issue 12's test 5: a title with one audio track is packaged as before alternate
/// audio existed: one muxed variant, and every segment byte for byte what the plain
/// Bento4-interface whole run (`mp42hls` with no track options, the first round's only
/// path) writes, with the same durations in the same order.
#[test]
fn a_title_with_one_audio_track_is_packaged_exactly_as_a_plain_whole_run() {
    let stack = stack(&[r#"default_language = "fr""#, r#"group_from = "highest""#]);
    let master = String::from_utf8(get_ok(&stack, "/i/clip_low.mp4/master.m3u8")).unwrap();
    assert!(!master.contains("#EXT-X-MEDIA"), "{master}");
    let variants = variants(&master);
    assert_eq!(variants.len(), 1, "{master}");
    let codecs = &variants[0].0["CODECS"];
    assert!(
        codecs.contains("avc1.") && codecs.contains("mp4a."),
        "{codecs}"
    );

    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(bin_dir().join("mp42hls"))
        .args(["--segment-duration", "6"])
        .args(["--index-filename", "stream.m3u8"])
        .args(["--segment-filename-template", "segment%d.ts"])
        .args(["--segment-url-template", "segment%d.ts"])
        .arg(media("clip_low.mp4"))
        .current_dir(dir.path())
        .output()
        .expect("run mp42hls");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let whole = std::fs::read_to_string(dir.path().join("stream.m3u8")).unwrap();
    let whole = segments(&whole);

    let playlist = String::from_utf8(get_ok(&stack, "/i/clip_low.mp4/index_0_av.m3u8")).unwrap();
    let served = segments(&playlist);
    assert!(served.len() > 1, "{playlist}");
    assert_eq!(served.len(), whole.len(), "{playlist}");
    for ((duration, uri), (whole_duration, whole_uri)) in served.iter().zip(&whole) {
        assert!(
            (duration - whole_duration).abs() < 1e-6,
            "{uri}: {duration} against {whole_duration}"
        );
        let bytes = get_ok(&stack, &format!("/i/clip_low.mp4/{uri}"));
        let expected = std::fs::read(dir.path().join(whole_uri)).unwrap();
        assert!(
            bytes == expected,
            "{uri} differs from the whole run's {whole_uri}"
        );
    }
}

/// At another segment duration (`sd=`) the master keeps its audio groups: each stream
/// is planned at that duration (audio cut where the video is, as at the title's own
/// cut), its URIs carrying the `sd`.
#[test]
fn alternate_audio_keeps_its_groups_at_another_segment_duration() {
    let stack = stack(&[]);
    let master_path = "/i/multi_audio.mp4/master.m3u8?sd=4s";
    let master = String::from_utf8(get_ok(&stack, master_path)).unwrap();
    let audio = audio_lines(&master);
    assert_eq!(audio.len(), 3, "{master}");
    let video: Vec<String> = variants(&master).into_iter().map(|(_, u)| u).collect();
    assert!(
        video.iter().all(|u| u == "index_0_v.m3u8?sd=4000ms"),
        "{master}"
    );
    let cut = |uri: &str| -> Vec<String> {
        let text = String::from_utf8(get_ok(&stack, &format!("/i/multi_audio.mp4/{uri}"))).unwrap();
        segments(&text)
            .into_iter()
            .map(|(d, _)| format!("{d:.3}"))
            .collect()
    };
    let video_cut = cut(&video[0]);
    let default_cut = cut("index_0_v.m3u8");
    assert_ne!(
        video_cut, default_cut,
        "4 s is another cut than the title's own"
    );
    assert!(
        video_cut.iter().all(|d| d.as_str() <= "4.000"),
        "{video_cut:?}"
    );
    // Cut where the video is at that duration too: every boundary within a frame
    // (AAC 1024 / 48000 s, AC-3 1536 / 48000 s) of the video's.
    let frame = 1536.0 / 48000.0;
    for a in &audio {
        let uri = &a["URI"];
        assert!(uri.ends_with("?sd=4000ms"), "{uri}");
        let audio_cut = cut(uri);
        assert_eq!(audio_cut.len(), video_cut.len(), "{uri}: {audio_cut:?}");
        let mut edge = 0.0;
        // After the first segment (which also holds the audio before the video's
        // first frame), as in the test above.
        for (d, vd) in audio_cut.iter().zip(&video_cut).skip(1) {
            edge += d.parse::<f64>().unwrap() - vd.parse::<f64>().unwrap();
            assert!(
                edge.abs() <= frame + 0.01,
                "{uri}: {audio_cut:?} against {video_cut:?}"
            );
        }
    }
    assert_ffmpeg_decodes(&stack, master_path, "alternate audio at sd=4s");
}
