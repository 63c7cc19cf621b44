//! MSOD query features through the whole stack: `?b=` on masters, clipping
//! `?start=&end=` on masters and media playlists, `?sd=` segment durations; each
//! cached under its own name (a hit the second time, nginx alone), plain requests
//! unaffected, bad values 400 with a reason.

use crate::common::*;

const LADDER: &str = "/i/clip_,low,medium,highdef,.mp4.csmil/master.m3u8";
/// Three renditions of a 60 s title (copies of one file: clipping is about time).
const TITLE: &str = "/i/t_,a,b,c,.mp4.csmil";
/// The test media's keyframe interval (scripts/make-media.sh: -g 48 at 24 fps).
const GOP: f64 = 2.0;

fn bandwidth(attributes: &std::collections::BTreeMap<String, String>) -> u64 {
    attributes["BANDWIDTH"].parse().expect("BANDWIDTH")
}

#[test]
fn bitrate_filter_keeps_the_variants_in_range() {
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .start();
    let plain = stack.get(LADDER);
    assert_eq!(plain.status, 200, "{}", plain.text());
    let all: Vec<(u64, String)> = variants(&plain.text())
        .into_iter()
        .map(|(a, uri)| (bandwidth(&a), uri))
        .collect();
    assert_eq!(all.len(), 3, "{}", plain.text());
    let mid_kbps = all[1].0 / 1000;
    // The msod.md forms, with bounds placed around the ladder's real bit rates.
    let filters = [
        format!("{}-", mid_kbps),
        format!("0-{}", mid_kbps + 1),
        format!("0-{},{}-", mid_kbps - 1, mid_kbps + 2),
        "300-".to_string(),
        "0-700".to_string(),
        "0-300,1200-".to_string(),
    ];
    let mut kept_counts = Vec::new();
    for b in &filters {
        let ranges: Vec<(u64, Option<u64>)> = b
            .split(',')
            .map(|r| {
                let (lo, hi) = r.split_once('-').unwrap();
                (lo.parse().unwrap(), hi.parse().ok())
            })
            .collect();
        let expected: Vec<&String> = all
            .iter()
            .filter(|(bw, _)| {
                ranges
                    .iter()
                    .any(|&(lo, hi)| *bw >= lo * 1000 && hi.is_none_or(|h| *bw <= h * 1000))
            })
            .map(|(_, uri)| uri)
            .collect();
        let path = format!("{LADDER}?b={b}");
        let r = stack.get(&path);
        if expected.is_empty() {
            assert_eq!(r.status, 404, "{path}: {}", r.text());
            kept_counts.push(0);
            continue;
        }
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let got: Vec<String> = variants(&r.text()).into_iter().map(|v| v.1).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{path}");
        kept_counts.push(got.len());
        let again = stack.get(&path);
        assert_eq!(again.header("x-casterpak-cache"), "HIT", "{path}");
        assert_eq!(again.body, r.body, "{path}");
    }
    println!(
        "b= filters {filters:?} kept {kept_counts:?} of {}",
        all.len()
    );
    assert_eq!(&kept_counts[..3], &[2, 2, 2], "{all:?}");
    // Nothing in range: 404; garbage: 400 with the reason; plain master unchanged.
    let none = stack.get(&format!("{LADDER}?b=0-1"));
    assert_eq!(none.status, 404, "{}", none.text());
    for garbage in ["abc", "300", "700-300", "1,2", "-5"] {
        let r = stack.get(&format!("{LADDER}?b={garbage}"));
        assert_eq!(r.status, 400, "b={garbage}: {}", r.text());
        assert!(r.text().contains("b="), "b={garbage}: {}", r.text());
    }
    let plain_again = stack.get(LADDER);
    assert_eq!(plain_again.header("x-casterpak-cache"), "HIT");
    assert_eq!(plain_again.body, plain.body);
}

fn title_stack() -> Stack {
    let source = media("a_720p_60s.mp4");
    Stack::builder()
        .file_as(&source, "t_a.mp4")
        .file_as(&media("a_720p_60s_faststart.mp4"), "t_b.mp4")
        .file_as(&source, "t_c.mp4")
        .start()
}

/// (start, end) in title time of the segments `playlist` lists, and its EXT-X-START.
/// A trimmed first segment names its start (`?start=`), else it starts as the title's.
fn window(text: &str, full: &[(f64, String)]) -> (f64, f64, Option<String>) {
    let listed = segments(text);
    assert!(!listed.is_empty(), "{text}");
    let (name, query) = listed[0].1.split_once('?').unwrap_or((&listed[0].1, ""));
    let first = full
        .iter()
        .position(|s| s.1 == name)
        .unwrap_or_else(|| panic!("{name} is not a segment of the title"));
    let named_start = query
        .split('&')
        .find_map(|p| p.strip_prefix("start="))
        .map(|v| v.parse::<f64>().unwrap());
    let start = named_start.unwrap_or_else(|| full[..first].iter().map(|s| s.0).sum());
    let end = start + listed.iter().map(|s| s.0).sum::<f64>();
    let ext_start = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-START:"))
        .map(str::to_string);
    (start, end, ext_start)
}

#[test]
fn clipped_csmil_master_lists_the_clip_and_shares_the_titles_segments() {
    let stack = title_stack();
    let plain_master = stack.get(&format!("{TITLE}/master.m3u8"));
    assert_eq!(plain_master.status, 200, "{}", plain_master.text());
    let path = format!("{TITLE}/master.m3u8?start=12&end=40");
    let master = stack.get(&path);
    assert_eq!(master.status, 200, "{}", master.text());
    let vs = variants(&master.text());
    assert_eq!(vs.len(), 3, "{}", master.text());
    for (_, uri) in &vs {
        assert!(uri.ends_with("?start=12&end=40"), "{uri}");
        let playlist_path = resolve(&format!("{TITLE}/master.m3u8"), uri);
        let (plain_path, _) = playlist_path.split_once('?').unwrap();
        let full = segments(&stack.get(plain_path).text());
        let clipped = stack.get(&playlist_path);
        assert_eq!(clipped.status, 200, "{playlist_path}: {}", clipped.text());
        let (start, end, ext_start) = window(&clipped.text(), &full);
        println!("{playlist_path}: segments {start:.3}..{end:.3} s, {ext_start:?}");
        assert!(
            (12.0 - GOP..=12.0).contains(&start),
            "{playlist_path}: starts at {start}"
        );
        assert!(
            (40.0..=40.0 + GOP).contains(&end),
            "{playlist_path}: ends at {end}"
        );
        let ext_start = ext_start.unwrap_or_else(|| panic!("{playlist_path}: no EXT-X-START"));
        let offset: f64 = ext_start
            .trim_start_matches("#EXT-X-START:TIME-OFFSET=")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((start + offset - 12.0).abs() < 1e-3, "{ext_start}");
        // Only a segment cut at a keyframe inside it is the clip's own; the others
        // are the title's files.
        let listed = segments(&clipped.text());
        let (inner, trimmed): (Vec<_>, Vec<_>) = listed.iter().partition(|s| !s.1.contains('?'));
        assert!(trimmed.len() <= 2, "{listed:?}");
        let base = plain_path.rsplit_once('/').unwrap().0;
        for (_, seg) in trimmed.iter().chain(inner.iter().take(1)) {
            let r = stack.get(&format!("{base}/{seg}"));
            assert_eq!(r.status, 200, "{seg}");
            assert_transport_stream(&r.body, seg);
        }
        for (_, seg) in inner.iter().take(1) {
            let plain_file = stack.cache_path(&format!("{base}/{seg}"));
            assert!(plain_file.exists(), "{seg} is not the title's own file");
        }
        println!(
            "{playlist_path}: {} segments, {} trimmed: {:?}",
            listed.len(),
            trimmed.len(),
            trimmed.iter().map(|s| &s.1).collect::<Vec<_>>()
        );
        let again = stack.get(&playlist_path);
        assert_eq!(again.header("x-casterpak-cache"), "HIT", "{playlist_path}");
    }
    assert_ffmpeg_decodes(&stack, &path, "clipped master");
    let clip_files: Vec<_> = stack
        .cached_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("~start12~end40"))
        .collect();
    assert!(
        clip_files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "m3u8")),
        "{clip_files:?}"
    );
    assert_eq!(clip_files.len(), 4, "{clip_files:?}");
    let segment_files: Vec<_> = stack
        .cached_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .collect();
    let trimmed_files = segment_files
        .iter()
        .filter(|p| p.to_string_lossy().contains('~'))
        .count();
    println!(
        "cached: {} segment files, {trimmed_files} of them trimmed for the clip",
        segment_files.len()
    );
    // Another spelling of the same clip: answered from the same files, nothing new.
    let before = stack.cached_files().len();
    let respelled = stack.get(&format!("{TITLE}/master.m3u8?end=40.000&start=012&x=1"));
    assert_eq!(respelled.body, master.body);
    assert_eq!(stack.cached_files().len(), before);
    // The unclipped master is unaffected and still served from its own file.
    let plain_again = stack.get(&format!("{TITLE}/master.m3u8"));
    assert_eq!(plain_again.header("x-casterpak-cache"), "HIT");
    assert_eq!(plain_again.body, plain_master.body);
    assert!(!plain_again.text().contains('?'), "{}", plain_again.text());
    let plain_playlist = stack.get(&format!("{TITLE}/index_0_av.m3u8"));
    let total: f64 = segments(&plain_playlist.text()).iter().map(|s| s.0).sum();
    assert!((total - 60.0).abs() < 0.1, "{total}");
}

#[test]
fn bad_clips_are_400_with_a_reason() {
    let stack = title_stack();
    let cases = [
        ("start=-1", "negative"),
        ("start=abc", "not a number"),
        ("start=40&end=12", "before end"),
        ("start=12&end=12", "before end"),
        ("start=60", "beyond the end"),
        ("start=75&end=90", "beyond the end"),
    ];
    for (query, reason) in cases {
        for file in ["master.m3u8", "index_1_av.m3u8"] {
            let path = format!("{TITLE}/{file}?{query}");
            let r = stack.get(&path);
            assert_eq!(r.status, 400, "{path}: {}", r.text());
            assert!(r.text().contains(reason), "{path}: {}", r.text());
        }
    }
    assert!(
        !stack
            .cached_files()
            .iter()
            .any(|p| p.to_string_lossy().contains('~')),
        "{:?}",
        stack.cached_files()
    );
}

#[test]
fn segment_duration_override_is_cached_under_its_own_name() {
    let stack = title_stack();
    let single = "/i/t_a.mp4";
    let plain = segments(&stack.get(&format!("{single}/index_0_av.m3u8")).text());
    for (sd, secs) in [("4s", 4.0), ("6006ms", 6.006), ("10s", 10.0)] {
        let path = format!("{single}/index_0_av.m3u8?sd={sd}");
        let r = stack.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let listed = segments(&r.text());
        let total: f64 = listed.iter().map(|s| s.0).sum();
        assert!((total - 60.0).abs() < 0.1, "{path}: {total}");
        // Cut at keyframes (every 2 s) at the first one at or past the target.
        assert!(
            listed[..listed.len() - 1]
                .iter()
                .all(|s| s.0 >= secs - 0.01 && s.0 <= secs + GOP),
            "{path}: {listed:?}"
        );
        if sd != "6006ms" {
            assert_ne!(listed.len(), plain.len(), "{path}");
        }
        let seg = &listed[1].1;
        let seg_path = resolve(&format!("{single}/index_0_av.m3u8"), seg);
        assert!(seg_path.contains("?sd="), "{seg_path}");
        let body = stack.get(&seg_path);
        assert_eq!(body.status, 200, "{seg_path}");
        assert_transport_stream(&body.body, &seg_path);
        let again = stack.get(&seg_path);
        assert_eq!(again.header("x-casterpak-cache"), "HIT", "{seg_path}");
        assert_eq!(again.body, body.body);
        assert_eq!(
            stack.get(&path).header("x-casterpak-cache"),
            "HIT",
            "{path}"
        );
    }
    let master = stack.get(&format!("{TITLE}/master.m3u8?sd=4s&start=50"));
    assert_eq!(master.status, 200, "{}", master.text());
    assert!(
        master.text().contains("?start=50&sd=4000ms"),
        "{}",
        master.text()
    );
    // One rendition decoded is enough: the three are copies (CPU on a shared machine).
    assert_ffmpeg_decodes(
        &stack,
        "/i/t_a.mp4/index_0_av.m3u8?sd=4s&start=50",
        "sd clip",
    );
    for bad in ["1s", "1999ms", "61s", "6", "x"] {
        let r = stack.get(&format!("{single}/index_0_av.m3u8?sd={bad}"));
        assert_eq!(r.status, 400, "sd={bad}: {}", r.text());
        assert!(r.text().contains("sd="), "sd={bad}: {}", r.text());
    }
}

#[test]
fn a_clip_from_inside_a_segment_starts_at_its_keyframe() {
    clip_from_inside_a_segment(&title_stack());
}

#[test]
fn a_clip_from_inside_a_segment_with_one_shot_tool_runs() {
    let source = media("a_720p_60s.mp4");
    let stack = Stack::builder()
        .file_as(&source, "t_a.mp4")
        .file_as(&media("a_720p_60s_faststart.mp4"), "t_b.mp4")
        .file_as(&source, "t_c.mp4")
        .config("tools", "serve = false")
        .start();
    clip_from_inside_a_segment(&stack);
    assert!(
        stack
            .mp42hls_runs()
            .iter()
            .any(|run| run.contains("--trim-start")),
        "{:?}",
        stack.mp42hls_runs()
    );
}

fn clip_from_inside_a_segment(stack: &Stack) {
    let path = "/i/t_a.mp4/index_0_av.m3u8?start=15.5&end=29";
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{}", r.text());
    let full = segments(&stack.get("/i/t_a.mp4/index_0_av.m3u8").text());
    let (start, end, ext_start) = window(&r.text(), &full);
    println!("{path}: segments {start:.3}..{end:.3} s, {ext_start:?}");
    assert!((15.5 - GOP..=15.5).contains(&start), "starts at {start}");
    assert!((29.0..=29.0 + GOP).contains(&end), "ends at {end}");
    assert_eq!(
        ext_start.as_deref(),
        Some(format!("#EXT-X-START:TIME-OFFSET={:.3},PRECISE=YES", 15.5 - start).as_str())
    );
    let listed = segments(&r.text());
    let first = &listed[0].1;
    assert!(first.contains("?start="), "{first}");
    let seg_path = format!("/i/t_a.mp4/{first}");
    let trimmed = stack.get(&seg_path);
    assert_eq!(trimmed.status, 200, "{seg_path}: {}", trimmed.text());
    assert_transport_stream(&trimmed.body, &seg_path);
    assert_eq!(stack.get(&seg_path).header("x-casterpak-cache"), "HIT");
    // The csmil-relative form of the same clip: the same bytes, stored once (a link).
    let relative = stack.get(&format!("{TITLE}/index_0_av.m3u8?start=15.5&end=29"));
    assert_eq!(relative.status, 200, "{}", relative.text());
    let relative_first = &segments(&relative.text())[0].1;
    assert_eq!(relative_first, first);
    let relative_path = format!("{TITLE}/{relative_first}");
    let linked = stack.get(&relative_path);
    assert_eq!(linked.status, 200, "{relative_path}: {}", linked.text());
    assert!(linked.body == trimmed.body, "{relative_path} differs");
    let (dir, file) = relative_path
        .split_once('?')
        .unwrap()
        .0
        .rsplit_once('/')
        .unwrap();
    let tag = format!("~start{}", first.split("start=").nth(1).unwrap());
    let link = stack.cache_path(&format!("{dir}/{tag}/{file}"));
    let meta = std::fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
    assert!(meta.file_type().is_symlink(), "{link:?} is stored twice");
    assert_ffmpeg_decodes(stack, path, "clip from inside a segment");
}
