//! CMAF HLS (`/c`) and DASH (`/d`) through the real nginx and worker: the csmil
//! master (version 7, one shared audio playlist, EXT-X-MAP) and the MPD (strict XML,
//! SegmentTimeline) decode in ffmpeg over HTTP, the MPD agrees with the HLS
//! playlists (segment counts, durations, codecs), both leave one set of segment
//! files in the cache, single renditions and HEVC work, and a repeat is a hit.

use crate::common::*;
use std::path::{Path, PathBuf};

const CSMIL: &str = "clip_,low,medium,highdef,.mp4.csmil";

fn clip_stack() -> Stack {
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .start()
}

/// Fetches a CMAF media playlist, its init segment and every segment; returns the
/// EXTINFs and the segment URLs.
pub(crate) fn fetch_cmaf_playlist(stack: &Stack, path: &str) -> (Vec<f64>, Vec<String>) {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let text = r.text();
    assert!(text.contains("#EXT-X-VERSION:7\n"), "{path}: {text}");
    assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{path}: no EXT-X-MAP"));
    let init = stack.get(&resolve(path, map));
    assert_eq!(init.status, 200, "{map}");
    let kind = if map.ends_with(".m4a") {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    assert_eq!(init.header("content-type"), kind, "{map}");
    assert_eq!(&init.body[4..8], b"ftyp", "{map}");
    let mut urls = Vec::new();
    let mut durations = Vec::new();
    for (duration, uri) in segments(&text) {
        let url = resolve(path, &uri);
        let s = stack.get(&url);
        assert_eq!(s.status, 200, "{url}: {}", s.text());
        assert_eq!(&s.body[4..8], b"styp", "{url}");
        assert_eq!(s.header("content-type"), kind, "{url}");
        assert!(s.header("cache-control").contains("immutable"), "{url}");
        durations.push(duration);
        urls.push(url);
    }
    (durations, urls)
}

fn regular_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            regular_files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn media_files(stack: &Stack) -> Vec<PathBuf> {
    let mut files = Vec::new();
    regular_files(&stack.cache_path("/"), &mut files);
    files.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.ends_with(".m4s") || name.ends_with(".mp4") || name.ends_with(".m4a")
    });
    files.sort();
    files
}

/// (codecs, timescale, durations) of every Representation, in document order.
pub(crate) fn representations(mpd: &str) -> Vec<(String, String, u64, Vec<u64>)> {
    let doc = roxmltree::Document::parse(mpd).expect("the MPD is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "MPD");
    assert_eq!(
        root.tag_name().namespace(),
        Some("urn:mpeg:dash:schema:mpd:2011")
    );
    assert_eq!(root.attribute("type"), Some("static"));
    let mut out = Vec::new();
    for set in root
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
    {
        let kind = set.attribute("contentType").unwrap().to_string();
        assert_eq!(
            set.attribute("mimeType"),
            Some(format!("{kind}/mp4").as_str())
        );
        for rep in set.children().filter(|n| n.has_tag_name("Representation")) {
            assert!(rep.attribute("bandwidth").unwrap().parse::<u64>().unwrap() > 0);
            if kind == "video" {
                for attribute in ["width", "height", "frameRate", "sar"] {
                    assert!(rep.attribute(attribute).is_some(), "{attribute}");
                }
            }
            let template = rep
                .children()
                .find(|n| n.has_tag_name("SegmentTemplate"))
                .expect("SegmentTemplate");
            assert!(template.attribute("media").unwrap().contains("$Number$"));
            let timescale: u64 = template.attribute("timescale").unwrap().parse().unwrap();
            let mut durations = Vec::new();
            for s in template.descendants().filter(|n| n.has_tag_name("S")) {
                let d: u64 = s.attribute("d").unwrap().parse().unwrap();
                let r: usize = s.attribute("r").map_or(0, |r| r.parse().unwrap());
                durations.extend(std::iter::repeat_n(d, r + 1));
            }
            out.push((
                kind.clone(),
                rep.attribute("codecs").unwrap().to_string(),
                timescale,
                durations,
            ));
        }
    }
    out
}

#[test]
fn csmil_cmaf_hls_and_dash_share_one_set_of_segments() {
    let stack = clip_stack();
    let master_path = format!("/c/{CSMIL}/master.m3u8");
    let r = stack.get(&master_path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    let master = r.text();
    assert!(master.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"));
    let groups: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:"))
        .collect();
    assert_eq!(
        groups.len(),
        1,
        "one audio rendition for every variant: {master}"
    );
    let audio_attrs = attributes(groups[0].trim_start_matches("#EXT-X-MEDIA:"));
    assert_eq!(audio_attrs["TYPE"], "AUDIO");
    let vs = variants(&master);
    assert_eq!(vs.len(), 3, "{master}");
    for (attrs, _) in &vs {
        assert_eq!(attrs["AUDIO"], audio_attrs["GROUP-ID"]);
        assert!(attrs["CODECS"].starts_with("avc1.") && attrs["CODECS"].ends_with(",mp4a.40.2"));
    }
    assert_ffmpeg_decodes(&stack, &master_path, "CMAF master");

    let mut hls_counts = Vec::new();
    for (_, uri) in &vs {
        let (durations, _) = fetch_cmaf_playlist(&stack, &resolve(&master_path, uri));
        hls_counts.push(durations.len());
    }
    let (audio_durations, _) =
        fetch_cmaf_playlist(&stack, &resolve(&master_path, &audio_attrs["URI"]));
    let after_hls = media_files(&stack);

    let mpd_path = format!("/d/{CSMIL}/manifest.mpd");
    let r = stack.get(&mpd_path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/dash+xml");
    let mpd = r.text();
    let reps = representations(&mpd);
    let video: Vec<_> = reps.iter().filter(|r| r.0 == "video").collect();
    let audio: Vec<_> = reps.iter().filter(|r| r.0 == "audio").collect();
    assert_eq!((video.len(), audio.len()), (3, 1), "{mpd}");
    let title = ffprobe_duration(&media("clip_low.mp4"));
    let mut hls_codecs: Vec<String> = vs.iter().map(|(a, _)| a["CODECS"].clone()).collect();
    hls_codecs.sort();
    let mut dash_codecs: Vec<String> = video
        .iter()
        .map(|v| format!("{},{}", v.1, audio[0].1))
        .collect();
    dash_codecs.sort();
    assert_eq!(dash_codecs, hls_codecs, "codecs equal the HLS CODECS");
    // Variants are listed by bandwidth, representations in URL order: compare sets.
    let mut dash_counts: Vec<usize> = video.iter().map(|v| v.3.len()).collect();
    dash_counts.sort();
    hls_counts.sort();
    assert_eq!(
        dash_counts, hls_counts,
        "segment counts equal the HLS playlists'"
    );
    for (_, _, timescale, durations) in &reps {
        let total = durations.iter().sum::<u64>() as f64 / *timescale as f64;
        assert!(
            (total - title).abs() < 0.1,
            "{total} s against the title's {title} s"
        );
    }
    assert_eq!(audio[0].3.len(), audio_durations.len());
    assert_ffmpeg_decodes(&stack, &mpd_path, "DASH MPD");

    // DASH read the very files HLS made: not one media file more.
    let after_dash = media_files(&stack);
    assert_eq!(after_dash, after_hls, "DASH added media files");
    let expected: usize =
        hls_counts.iter().map(|n| n + 1).sum::<usize>() + audio_durations.len() + 1;
    assert_eq!(
        after_dash.len(),
        expected,
        "one file per segment and init: {after_dash:?}"
    );
    assert!(after_dash
        .iter()
        .all(|p| !p.starts_with(stack.cache_path("/d"))));
    assert!(after_dash
        .iter()
        .all(|p| !p.starts_with(stack.cache_path(&format!("/c/{CSMIL}")))));

    // A repeat is nginx's own hit.
    let again = stack.get(&mpd_path);
    assert_eq!(again.header("x-casterpak-cache"), "HIT");
    assert_eq!(again.body, r.body);
}

#[test]
fn single_renditions_and_hevc() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("hevc.mp4")
        .media("audio_only.mp4")
        .start();
    let r = stack.get("/c/clip_low.mp4/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    assert_eq!(vs.len(), 1);
    assert_eq!(
        resolve("/c/clip_low.mp4/master.m3u8", &vs[0].1),
        "/c/clip_low.mp4/index_0_v.m3u8"
    );
    let r = stack.get("/d/clip_low.mp4/manifest.mpd");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(representations(&r.text()).len(), 2);
    assert_ffmpeg_decodes(&stack, "/d/clip_low.mp4/manifest.mpd", "single DASH");

    let r = stack.get("/c/hevc.mp4/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = variants(&r.text());
    let codecs = &vs[0].0["CODECS"];
    assert!(
        codecs.starts_with("hvc1.1.6.L93.") && codecs.ends_with(",mp4a.40.2"),
        "{codecs}"
    );
    assert_ffmpeg_decodes(&stack, "/c/hevc.mp4/master.m3u8", "HEVC CMAF master");
    let init = stack.get("/c/hevc.mp4/init_0_v.mp4");
    assert!(init.body.windows(4).any(|w| w == b"hvcC"));

    let r = stack.get("/c/audio_only.mp4/master.m3u8");
    assert_eq!(r.status, 200, "{}", r.text());
    let master = r.text();
    assert!(!master.contains("#EXT-X-MEDIA:"), "{master}");
    assert_eq!(variants(&master)[0].1, "index_0_a.m3u8");
    assert_ffmpeg_decodes(&stack, "/c/audio_only.mp4/master.m3u8", "audio-only CMAF");
    assert_eq!(stack.get("/c/audio_only.mp4/index_0_v.m3u8").status, 404);
    assert_eq!(stack.get("/c/clip_low.mp4/segment99_0_v.m4s").status, 404);
    assert_eq!(stack.get("/d/clip_low.mp4/master.m3u8").status, 404);
    // The tool ran CMAF jobs (logged alike by the one-shot wrapper and the serve proxy).
    let runs = stack.mp42hls_runs();
    for wanted in ["--plan", "--init-segment", "--segments"] {
        assert!(
            runs.iter()
                .any(|r| r.contains("--cmaf") && r.contains(wanted)),
            "no CMAF {wanted} run in {runs:?}"
        );
    }
}

fn all_entries(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            all_entries(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_sweep_evicts_cmaf_and_dash_entries_and_they_refill() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .config("cache", "segment_ttl_secs = 2")
        .config("cache", "hit_flush_ms = 100")
        .start();
    let mpd = "/d/clip_low.mp4/manifest.mpd";
    assert_eq!(stack.get(mpd).status, 200);
    assert_eq!(stack.get("/c/clip_low.mp4/segment2_0_v.m4s").status, 200);
    assert_eq!(stack.get("/c/clip_low.mp4/init_0_a.m4a").status, 200);
    let mut before = Vec::new();
    all_entries(&stack.cache_path("/c"), &mut before);
    all_entries(&stack.cache_path("/d"), &mut before);
    assert!(before.len() >= 4, "{before:?}");
    std::thread::sleep(
        std::time::Duration::from_millis(3500)
            .max(casterpak::cache::ANSWER_GRACE + std::time::Duration::from_millis(500)),
    );
    let out = stack.casterpak(&["--sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut after = Vec::new();
    all_entries(&stack.cache_path("/c"), &mut after);
    all_entries(&stack.cache_path("/d"), &mut after);
    assert_eq!(after, Vec::<PathBuf>::new(), "left after the sweep");
    let again = stack.get(mpd);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.header("x-casterpak-cache"), "MISS");
    assert_ffmpeg_decodes(&stack, mpd, "refilled MPD");
}

#[test]
fn a_tool_without_the_extensions_answers_415_and_caches_nothing() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .packaging(Packaging::Whole)
        .start();
    for path in [
        "/c/clip_low.mp4/master.m3u8",
        "/c/clip_low.mp4/segment1_0_v.m4s",
        "/d/clip_low.mp4/manifest.mpd",
    ] {
        let r = stack.get(path);
        assert_eq!(r.status, 415, "{path}: {}", r.text());
        assert!(r.text().contains("mp42hls"), "{path}: {}", r.text());
    }
    let mut files = Vec::new();
    all_entries(&stack.cache_path("/c"), &mut files);
    all_entries(&stack.cache_path("/d"), &mut files);
    assert_eq!(files, Vec::<PathBuf>::new());
    // TS goes on as before.
    assert_eq!(stack.get("/i/clip_low.mp4/master.m3u8").status, 200);
}

#[test]
fn a_corrupt_title_is_refused_once_and_remembered() {
    let stack = Stack::builder().media("truncated.mp4").start();
    for path in [
        "/c/truncated.mp4/master.m3u8",
        "/c/truncated.mp4/master.m3u8",
        "/d/truncated.mp4/manifest.mpd",
        "/c/truncated.mp4/index_0_v.m3u8",
    ] {
        let r = stack.get(path);
        assert_eq!(r.status, 422, "{path}: {}", r.text());
    }
    let runs = stack.mp42hls_runs();
    let cmaf: Vec<&String> = runs.iter().filter(|r| r.contains("--cmaf")).collect();
    assert_eq!(cmaf.len(), 1, "the failed plan is remembered: {runs:?}");
    let mut files = Vec::new();
    all_entries(&stack.cache_path("/c"), &mut files);
    all_entries(&stack.cache_path("/d"), &mut files);
    assert!(
        files.iter().all(|f| f.ends_with(".source")),
        "cached: {files:?}"
    );
}

/// MSOD's bitrate filter on the CMAF HLS master and the DASH MPD: `b=` keeps the
/// variants (representations) whose bandwidth it holds, each filtered file is cached
/// under its own `~b…` dir (a hit from then on), a range holding none is 404; a clip
/// or `sd=` is a 400 that says where clips are served, never an unclipped answer.
#[test]
fn bitrate_filters_on_cmaf_masters_and_mpds() {
    let stack = clip_stack();
    let master_path = format!("/c/{CSMIL}/master.m3u8");
    let all = stack.get(&master_path);
    assert_eq!(all.status, 200, "{}", all.text());
    let bandwidths: Vec<u64> = variants(&all.text())
        .iter()
        .map(|(a, _)| a["BANDWIDTH"].parse().unwrap())
        .collect();
    assert_eq!(bandwidths.len(), 3, "{}", all.text());
    // A range holding the lowest two (kbit/s, inclusive).
    let high = bandwidths[1].div_ceil(1000);
    let filtered_path = format!("{master_path}?b=1-{high}");
    let filtered = stack.get(&filtered_path);
    assert_eq!(filtered.status, 200, "{}", filtered.text());
    let text = filtered.text();
    let kept: Vec<String> = variants(&text).into_iter().map(|(_, uri)| uri).collect();
    assert_eq!(kept.len(), 2, "{text}");
    assert!(!kept.iter().any(|u| u.contains("_2_")), "{text}");
    assert!(text.contains("TYPE=AUDIO"), "{text}");
    let iframes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-I-FRAME-STREAM-INF:"))
        .collect();
    assert_eq!(iframes.len(), 2, "{text}");
    assert!(!iframes.iter().any(|l| l.contains("iframes_2_v")), "{text}");
    assert_eq!(stack.get(&filtered_path).header("x-casterpak-cache"), "HIT");
    assert_eq!(stack.get(&format!("{master_path}?b=100000-")).status, 404);

    let mpd_path = format!("/d/{CSMIL}/manifest.mpd");
    let filtered_mpd = format!("{mpd_path}?b=1-{high}");
    let r = stack.get(&filtered_mpd);
    assert_eq!(r.status, 200, "{}", r.text());
    let mpd = r.text();
    let doc = roxmltree::Document::parse(&mpd).expect("the MPD is XML");
    let video: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet") && n.attribute("contentType") == Some("video"))
        .flat_map(|set| set.children().filter(|c| c.has_tag_name("Representation")))
        .filter_map(|rep| rep.attribute("id"))
        .collect();
    assert_eq!(video.len(), 2, "{mpd}");
    assert_eq!(stack.get(&filtered_mpd).header("x-casterpak-cache"), "HIT");
    // The unfiltered MPD is its own file, still all three.
    let whole = stack.get(&mpd_path).text();
    assert_eq!(whole.matches("<Representation").count(), 4, "{whole}");
    assert_ffmpeg_decodes(&stack, &filtered_path, "b= CMAF master");

    for refused in [
        format!("{master_path}?start=3&end=9"),
        format!("{mpd_path}?sd=4s"),
        format!("/c/{CSMIL}/index_0_v.m3u8?end=9"),
    ] {
        let r = stack.get(&refused);
        assert_eq!(r.status, 400, "{refused}: {}", r.text());
        assert!(r.text().contains("TS HLS only"), "{refused}: {}", r.text());
    }
}
