//! What the tools print, parsed (pure): exit statuses → typed errors per
//! bento4/README.md, and the JSON of `--capabilities`, `--plan`, `--show-info`
//! and `mp4info --format json`.

use crate::error::ToolError;
use serde::{Deserialize, Serialize};

/// The last non-empty stderr line without the `tool: ` prefix: the tool's reason.
pub fn reason(tool: &str, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    let line = line
        .strip_prefix(tool)
        .and_then(|l| l.strip_prefix(':'))
        .unwrap_or(line)
        .trim();
    if line.is_empty() {
        "no reason given".to_string()
    } else {
        line.chars().take(300).collect()
    }
}

/// How the tools' reason for an exit 4 begins when the source could not be read.
const SOURCE_UNREADABLE: &str = "cannot read input: ";

/// Maps an exit code (None: killed by a signal) to the error the worker answers.
pub fn exit_error(tool: &str, code: Option<i32>, signal: Option<i32>, stderr: &[u8]) -> ToolError {
    let why = reason(tool, stderr);
    match (code, signal) {
        (Some(1), _) => ToolError::Failed(format!("{tool} usage error: {why}")),
        (Some(2), _) => ToolError::Corrupt(why),
        (Some(3), _) => ToolError::Unsupported(why),
        // Exit 4 is any I/O error; the source's own is told by its reason's words
        // (bento4/README.md): the disk failed, the media is not bad.
        (Some(4), _) if why.starts_with(SOURCE_UNREADABLE) => ToolError::SourceUnreadable(why),
        (Some(4), _) => ToolError::Failed(format!("{tool} I/O error: {why}")),
        (Some(5), _) => ToolError::OutOfRange(why),
        (Some(c), _) => ToolError::Crashed(format!("{tool} exited with {c}: {why}")),
        (None, Some(s)) => ToolError::Crashed(format!("{tool} killed by signal {s}: {why}")),
        (None, None) => ToolError::Crashed(format!("{tool} ended abnormally: {why}")),
    }
}

/// `mp42hls --capabilities`: true only when every extension the JIT mode needs is there.
pub fn has_jit_extensions(stdout: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Caps {
        #[serde(default)]
        plan: bool,
        #[serde(default)]
        segments: bool,
        #[serde(default)]
        first_segment_number: bool,
    }
    serde_json::from_slice::<Caps>(stdout)
        .map(|c| c.plan && c.segments && c.first_segment_number)
        .unwrap_or(false)
}

/// `mp42hls --capabilities`: the tool can run as a long-lived job server (`--serve`).
pub fn has_serve(stdout: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Caps {
        #[serde(default)]
        serve: bool,
    }
    has_jit_extensions(stdout) && serde_json::from_slice::<Caps>(stdout).is_ok_and(|c| c.serve)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Stats {
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub avg_segment_bitrate: f64,
    #[serde(default)]
    pub max_segment_bitrate: f64,
    /// Keyframe bytes over the time each keyframe stands for (I-frame streams).
    #[serde(default)]
    pub avg_iframe_bitrate: f64,
    #[serde(default)]
    pub max_iframe_bitrate: f64,
    #[serde(default)]
    pub frame_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AudioInfo {
    pub codec: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VideoInfo {
    pub codec: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

/// One audio track of a plan's `audio_tracks` (our tool only): an alternate audio
/// rendition's facts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AudioTrack {
    pub id: u32,
    pub codec: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub channels: u16,
}

/// One timed text (`tx3g`) track of a plan's `text_tracks` (our tool only).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TextTrack {
    pub id: u32,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub name: String,
}

/// `mp42hls --captions`: the CEA-608 fields the video's first samples carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Cea608 {
    #[serde(default)]
    pub field1: bool,
    #[serde(default)]
    pub field2: bool,
}

/// `--show-info` output (also the tail of a plan): what a master variant needs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ShowInfo {
    pub stats: Stats,
    /// Every audio track the tool can mux (plans of our tool; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_tracks: Vec<AudioTrack>,
    /// The timed text tracks `--webvtt` turns into WebVTT (our tool's plans).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_tracks: Vec<TextTrack>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanSegment {
    pub number: u64,
    pub duration: f64,
    #[serde(default)]
    pub size: u64,
    /// Presentation times of its keyframes (playlist seconds), for clipping.
    #[serde(default)]
    pub keyframes: Vec<f64>,
    /// `[start, end)` source byte ranges of the segment's samples (our tool only).
    #[serde(default)]
    pub ranges: Vec<[u64; 2]>,
    /// `[offset, size]` of each keyframe in the TS file, as `keyframes` (our tool only).
    #[serde(default)]
    pub iframes: Vec<[u64; 2]>,
}

/// `mp42hls --plan` output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Plan {
    pub first_segment_number: u64,
    /// The PTS (90 kHz) of playlist time 0 (our tool; absent from older ones).
    #[serde(default)]
    pub pts_zero: Option<u64>,
    pub segments: Vec<PlanSegment>,
    /// What the video carries of CEA-608, when the job asked (`plan_with_captions`).
    #[serde(default)]
    pub cea608: Option<Cea608>,
    #[serde(flatten)]
    pub info: ShowInfo,
}

impl Plan {
    /// Each segment's `[start, end)` source ranges, in segment order.
    pub fn byte_ranges(&self) -> Vec<Vec<(u64, u64)>> {
        self.segments
            .iter()
            .map(|s| s.ranges.iter().map(|&[a, b]| (a, b)).collect())
            .collect()
    }

    /// Each segment's keyframes as (time, offset, size) in its TS file: an I-frame
    /// playlist's entries. Empty when the tool gave none, or not one per keyframe.
    pub fn iframes(&self) -> Vec<Vec<(f64, u64, u64)>> {
        let complete = self
            .segments
            .iter()
            .all(|s| s.iframes.len() == s.keyframes.len());
        if !complete || self.segments.iter().all(|s| s.iframes.is_empty()) {
            return Vec::new();
        }
        self.segments
            .iter()
            .map(|s| {
                s.keyframes
                    .iter()
                    .zip(&s.iframes)
                    .map(|(&t, &[offset, size])| (t, offset, size))
                    .collect()
            })
            .collect()
    }

    /// Each segment's keyframe times, in segment order (clipping; `durations` checks
    /// the numbering).
    pub fn keyframes(&self) -> Vec<Vec<f64>> {
        self.segments.iter().map(|s| s.keyframes.clone()).collect()
    }

    /// Durations in segment order, after checking the numbering is 1, 2, 3, …
    /// (the URLs and the tool must agree on what segment K is).
    pub fn durations(&self) -> Result<Vec<f64>, ToolError> {
        let mut out = Vec::with_capacity(self.segments.len());
        for (i, s) in self.segments.iter().enumerate() {
            let expected = self.first_segment_number.checked_add(i as u64);
            if expected != Some(s.number) || !(s.duration.is_finite() && s.duration > 0.0) {
                return Err(ToolError::BadOutput(format!(
                    "plan segment {i} is numbered {} with duration {}",
                    s.number, s.duration
                )));
            }
            out.push(s.duration);
        }
        if out.is_empty() {
            return Err(ToolError::BadOutput("plan has no segments".into()));
        }
        Ok(out)
    }
}

pub fn parse_json<'a, T: Deserialize<'a>>(what: &str, stdout: &'a [u8]) -> Result<T, ToolError> {
    serde_json::from_slice(stdout).map_err(|e| ToolError::BadOutput(format!("{what}: {e}")))
}

/// What the worker takes from `mp4info --format json`: enough to tell a file
/// with media tracks from one that has none (real Bento4 exits 0 on garbage).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub tracks: Vec<ProbeTrack>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProbeTrack {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub sample_descriptions: Vec<SampleDescription>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SampleDescription {
    #[serde(default)]
    pub codecs_string: String,
}

impl Probe {
    /// True when some audio or video track has a codec string.
    pub fn has_media(&self) -> bool {
        self.tracks.iter().any(|t| {
            (t.kind == "Video" || t.kind == "Audio")
                && t.sample_descriptions
                    .iter()
                    .any(|d| !d.codecs_string.is_empty())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_per_readme() {
        let e = |code, signal| exit_error("mp42hls", code, signal, b"mp42hls: moov missing\n");
        assert_eq!(e(Some(2), None), ToolError::Corrupt("moov missing".into()));
        assert_eq!(
            e(Some(3), None),
            ToolError::Unsupported("moov missing".into())
        );
        assert_eq!(
            e(Some(5), None),
            ToolError::OutOfRange("moov missing".into())
        );
        assert!(matches!(e(Some(1), None), ToolError::Failed(_)));
        assert!(matches!(e(Some(4), None), ToolError::Failed(_)));
        let unreadable = b"mp42hls: cannot read input: /dev/fd/7: reading 8 bytes at 0: Input/output error (os error 5)\n";
        assert!(matches!(
            exit_error("mp42hls", Some(4), None, unreadable),
            ToolError::SourceUnreadable(r) if r.starts_with("cannot read input: /dev/fd/7")
        ));
        let writing = b"mp42hls: writing /c/s1.ts: No space left on device (os error 28)\n";
        assert!(matches!(
            exit_error("mp42hls", Some(4), None, writing),
            ToolError::Failed(_)
        ));
        assert!(matches!(e(Some(9), None), ToolError::Crashed(_)));
        assert!(matches!(e(None, Some(11)), ToolError::Crashed(r) if r.contains("signal 11")));
    }

    #[test]
    fn reason_is_last_line_without_prefix() {
        let cases: &[(&[u8], &str)] = &[
            (b"mp4info: bad box\n", "bad box"),
            (b"warning\nmp4info: truncated mdat\n\n", "truncated mdat"),
            (b"", "no reason given"),
            (b"Segmentation fault", "Segmentation fault"),
        ];
        for (stderr, expected) in cases {
            assert_eq!(reason("mp4info", stderr), *expected);
        }
    }

    #[test]
    fn capabilities() {
        let cases: &[(&[u8], bool)] = &[
            (br#"{"casterpak_extensions":1,"plan":true,"segments":true,"first_segment_number":true}"#, true),
            (br#"{"plan":true,"segments":false,"first_segment_number":true}"#, false),
            (br#"{"plan":true}"#, false),
            (b"ERROR: cannot open input file", false),
            (b"", false),
        ];
        for (out, expected) in cases {
            assert_eq!(
                has_jit_extensions(out),
                *expected,
                "{}",
                String::from_utf8_lossy(out)
            );
        }
    }

    #[test]
    fn serve_capability() {
        let cases: &[(&[u8], bool)] = &[
            (br#"{"casterpak_extensions":1,"plan":true,"segments":true,"first_segment_number":true,"serve":true}"#, true),
            (br#"{"casterpak_extensions":1,"plan":true,"segments":true,"first_segment_number":true}"#, false),
            (br#"{"plan":true,"segments":true,"first_segment_number":true,"serve":false}"#, false),
            (br#"{"serve":true}"#, false),
            (b"usage: mp42hls", false),
        ];
        for (out, expected) in cases {
            assert_eq!(
                has_serve(out),
                *expected,
                "{}",
                String::from_utf8_lossy(out)
            );
        }
    }

    #[test]
    fn plan_from_readme_example() {
        let json = br#"{"segment_duration": 6.0, "target_duration": 6, "first_segment_number": 1,
            "segments": [
              {"number": 1, "start": 0.0, "duration": 6.0, "size": 1672072, "keyframes": [0.0, 2.0, 4.0]},
              {"number": 2, "start": 6.0, "duration": 3.5, "size": 1000, "keyframes": [6.0]}
            ],
            "stats": {"duration": 9.5, "avg_segment_bitrate": 2232788.2, "max_segment_bitrate": 2246224.0,
                      "avg_iframe_bitrate": 109115.2, "max_iframe_bitrate": 0.0, "frame_rate": 24.0},
            "audio": {"codec": "mp4a.40.2"},
            "video": {"codec": "avc1.64001F", "width": 1280, "height": 720}}"#;
        let plan: Plan = parse_json("plan", json).unwrap();
        assert_eq!(plan.durations().unwrap(), vec![6.0, 3.5]);
        assert_eq!(plan.info.stats.max_segment_bitrate, 2246224.0);
        assert_eq!(plan.info.video.as_ref().unwrap().width, 1280);
        assert_eq!(plan.info.audio.as_ref().unwrap().codec, "mp4a.40.2");
    }

    #[test]
    fn plan_with_bad_numbering_is_bad_output() {
        let bad = [
            r#"{"first_segment_number":1,"segments":[{"number":2,"duration":6.0}],"stats":{}}"#,
            r#"{"first_segment_number":1,"segments":[{"number":1,"duration":0.0}],"stats":{}}"#,
            r#"{"first_segment_number":1,"segments":[],"stats":{}}"#,
        ];
        for json in bad {
            let plan: Plan = parse_json("plan", json.as_bytes()).unwrap();
            assert!(
                matches!(plan.durations(), Err(ToolError::BadOutput(_))),
                "{json}"
            );
        }
        assert!(parse_json::<Plan>("plan", b"{\"segments\": 5}").is_err());
    }

    /// Real Bento4's output, kept in the repository beside the tools' own tests:
    /// `mp4info` JSON under `reference/`, `mp42hls` output under `mp42hls_reference/`.
    fn reference(name: &str) -> Vec<u8> {
        let dir = if name.ends_with(".mp4info.json") {
            "reference"
        } else {
            "mp42hls_reference"
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("bento4/tests")
            .join(dir)
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reference {}: {e}", path.display()))
    }

    #[test]
    fn bento4_reference_show_info_and_mp4info_parse() {
        let info: ShowInfo =
            parse_json("show-info", &reference("a_720p_60s.d6.show-info.json")).unwrap();
        assert_eq!(info.video.unwrap().codec, "avc1.64001F");
        assert!(info.stats.max_segment_bitrate >= info.stats.avg_segment_bitrate);
        let audio: ShowInfo =
            parse_json("show-info", &reference("audio_only.d6.show-info.json")).unwrap();
        assert!(audio.video.is_none());
        let probe: Probe = parse_json("mp4info", &reference("a_720p_60s.mp4info.json")).unwrap();
        assert!(probe.has_media());
        let empty: Probe = parse_json("mp4info", br#"{"movie":{}}"#).unwrap();
        assert!(!empty.has_media());
    }
}
