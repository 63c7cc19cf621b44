//! HLS checks shared by the end-to-end tests: playlist parsing (just enough for
//! assertions), ffprobe facts about the sources, MPEG-TS sanity.

use super::{resolve, Stack};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Parsed `#EXT-X-STREAM-INF` entries of a master playlist: (attributes, URI).
pub fn variants(master: &str) -> Vec<(BTreeMap<String, String>, String)> {
    let mut out = Vec::new();
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let uri = lines.next().unwrap_or_default().to_string();
            out.push((attributes(attrs), uri));
        }
    }
    out
}

/// An attribute list (RFC 8216 4.2): commas inside quoted strings do not split.
pub fn attributes(list: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            let next = quoted.get(end + 1..).unwrap_or("");
            (
                quoted[..end].to_string(),
                next.strip_prefix(',').unwrap_or(next),
            )
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v.to_string(), n),
                None => (after.to_string(), ""),
            }
        };
        out.insert(name.to_string(), value);
        rest = next;
    }
    out
}

/// (LANGUAGE, URI) of each `EXT-X-MEDIA:TYPE=SUBTITLES` of a master, in order.
pub fn subtitle_renditions(master: &str) -> Vec<(String, String)> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .filter(|m| m.get("TYPE").map(String::as_str) == Some("SUBTITLES"))
        .map(|m| (m["LANGUAGE"].clone(), m["URI"].clone()))
        .collect()
}

/// (EXTINF duration, URI) of each segment of a media playlist.
pub fn segments(playlist: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut lines = playlist.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            let duration = info
                .split(',')
                .next()
                .unwrap_or("")
                .parse()
                .unwrap_or(f64::NAN);
            let uri = lines.next().unwrap_or_default().to_string();
            out.push((duration, uri));
        }
    }
    out
}

/// Duration of a media file in seconds, as ffprobe reads it.
pub fn ffprobe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe duration of {}", path.display()))
}

/// Width and height (`WxH`) of the first video stream of a file or URL, as ffprobe
/// reads it.
pub fn ffprobe_resolution(path: impl AsRef<std::ffi::OsStr>) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=s=x:p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    // A TS lists its stream once per program too: the first line is the stream's.
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// The cues ffmpeg reads through the subtitle playlist at `path`, as WebVTT; ffmpeg
/// must exit 0.
pub fn ffmpeg_webvtt(stack: &Stack, path: &str) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(stack.url(path))
        .args(["-f", "webvtt", "-"])
        .output()
        .expect("run ffmpeg");
    let cues = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ffmpeg on {path}: {cues} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cues
}

/// A real client: ffmpeg decodes everything `path` leads to over HTTP, exit 0 and
/// not one line on stderr.
pub fn assert_ffmpeg_decodes(stack: &Stack, path: &str, what: &str) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(stack.url(path))
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{what}: ffmpeg: {stderr}"
    );
}

/// Checks that `body` looks like an MPEG-TS segment: whole 188-byte packets, each
/// starting with the sync byte, the first being the PAT (PID 0).
pub fn assert_transport_stream(body: &[u8], what: &str) {
    assert!(!body.is_empty(), "{what}: empty");
    assert_eq!(body.len() % 188, 0, "{what}: {} bytes", body.len());
    assert!(body.chunks(188).all(|p| p[0] == 0x47), "{what}: lost sync");
    let pid = (u16::from(body[1] & 0x1f) << 8) | u16::from(body[2]);
    assert_eq!(pid, 0, "{what}: first packet is not the PAT");
}

/// Fetches a media playlist and every segment in it; checks RFC 8216 essentials and
/// that the EXTINFs add up to the source's duration. Returns the segment paths.
pub fn check_media_playlist(stack: &Stack, path: &str, source: &str) -> Vec<String> {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    let text = r.text();
    for tag in [
        "#EXTM3U",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-ENDLIST",
    ] {
        assert!(
            text.lines().any(|l| l == tag),
            "{path} lacks {tag}:\n{text}"
        );
    }
    assert!(!text.contains('\r'), "{path}: CR in playlist");
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no TARGETDURATION\n{text}"));
    let segs = segments(&text);
    assert!(!segs.is_empty(), "{path}: no segments");
    for (d, _) in &segs {
        assert!(
            d.round() <= target,
            "{path}: EXTINF {d} above TARGETDURATION {target}"
        );
    }
    let total: f64 = segs.iter().map(|(d, _)| d).sum();
    let expected = ffprobe_duration(&stack.media_root.join(source));
    assert!(
        (total - expected).abs() < 0.25,
        "{path}: EXTINFs add to {total}, source lasts {expected}"
    );
    let mut paths = Vec::new();
    for (i, (_, uri)) in segs.iter().enumerate() {
        let seg_path = resolve(path, uri);
        let r = stack.get(&seg_path);
        assert_eq!(r.status, 200, "{seg_path}: {}", r.text());
        assert_eq!(r.header("content-type"), "video/mp2t", "{seg_path}");
        assert_transport_stream(&r.body, &format!("{seg_path} (#{})", i + 1));
        paths.push(seg_path);
    }
    paths
}
