//! `mp42hls --serve`: the job and answer formats (bento4/README.md, "Serve mode").
//! Pure: a job's bytes in, a typed job or a bad-job error out; answers as text.

use crate::cmaf::protect::Cbcs;
use crate::cmaf::CmafTrack;
use crate::plan::{PlanOptions, Trim};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Parsed indexes kept by default: a pool of a few processes over a few hundred
/// titles keeps each one's hot titles.
pub const DEFAULT_INDEX_CACHE_ENTRIES: usize = 64;
/// Index memory kept by default: 256 MiB is about 40 hours of 1080p at 24 fps
/// (about 6 bytes per sample, README "Memory").
pub const DEFAULT_INDEX_CACHE_BYTES: usize = 256 << 20;

/// The largest job accepted, in bytes: a job is a few fields and a path.
pub const MAX_JOB_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    pub index_cache_entries: usize,
    pub index_cache_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            index_cache_entries: DEFAULT_INDEX_CACHE_ENTRIES,
            index_cache_bytes: DEFAULT_INDEX_CACHE_BYTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Answer what `--plan` prints.
    Plan,
    /// Write segment `k` (in the job's numbering) to `output`, a new file.
    Segment { k: u64, output: PathBuf },
    /// Answer the index cache's entry count and bytes.
    Stats,
    /// Write the CMAF init segment of the job's `cmaf` track to `output`.
    Init { output: PathBuf },
    /// Answer the timed text track's cues as WebVTT (`--webvtt`).
    WebVtt { track_id: u32 },
    /// Answer the CEA-608 fields the video carries (`--captions`).
    Captions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub op: Op,
    /// The source by path (newline-delimited jobs); None when a descriptor comes
    /// with the job, or for `stats`.
    pub input: Option<PathBuf>,
    /// The defaults of the one-shot tool with the job's segment duration and first
    /// segment number: what `--plan`/`--segments` use with those two options.
    pub plan: PlanOptions,
    /// `"cmaf": "video"|"audio"`: a segment or init job writes CMAF for that track
    /// (same plan, same cuts); a plan job adds the `cmaf` timelines.
    pub cmaf: Option<CmafTrack>,
    /// `"encryption_key": "<32 hex digits>"` on a TS plan or segment job: the segment
    /// is AES-128 encrypted (IV: its sequence number, as `--encryption-key` with the
    /// default IV mode), and a plan gives the segments' sizes as encrypted.
    pub encryption_key: Option<[u8; 16]>,
    /// `"cbcs": {"key": hex, "kid": hex, "iv": hex}` on a CMAF segment or init job:
    /// that file `cbcs`-protected, as `--encryption-mode cbcs`.
    pub cbcs: Option<Cbcs>,
    /// `"captions": true` on a plan job: the answer also has the `cea608` object a
    /// `captions` job answers (a master needs both; one round trip, not two).
    pub captions: bool,
}

/// A job that cannot be run as sent: answered with code 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadJob {
    pub id: Option<u64>,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: u64,
    op: String,
    input: Option<String>,
    segment_duration: Option<f64>,
    first_segment_number: Option<u64>,
    k: Option<u64>,
    output: Option<String>,
    trim_start: Option<f64>,
    trim_end: Option<f64>,
    cmaf: Option<String>,
    encryption_key: Option<String>,
    cbcs: Option<RawCbcs>,
    video_track_id: Option<u32>,
    audio_track_id: Option<u32>,
    track_id: Option<u32>,
    captions: Option<bool>,
    align_to_video: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCbcs {
    key: String,
    kid: String,
    iv: String,
}

/// Parses one job (a JSON object, UTF-8).
pub fn parse_job(bytes: &[u8]) -> Result<Job, BadJob> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| BadJob {
        id: None,
        reason: format!("job is not JSON: {e}"),
    })?;
    // The id first, so that even a job refused below is answered under its id.
    let id = value.get("id").and_then(Value::as_u64);
    let bad = |reason: String| BadJob { id, reason };
    if !value.is_object() {
        return Err(bad("a job must be a JSON object".into()));
    }
    let raw: RawJob = serde_json::from_value(value).map_err(|e| bad(format!("bad job: {e}")))?;
    let source_free = |op: &str| -> Result<(), BadJob> {
        if raw.segment_duration.is_some() || raw.first_segment_number.is_some() {
            return Err(bad(format!(
                "{op} takes no segment_duration or first_segment_number"
            )));
        }
        Ok(())
    };
    let cmaf = match raw.cmaf.as_deref() {
        None => None,
        Some(text) => Some(
            CmafTrack::parse(text)
                .ok_or_else(|| bad(format!("cmaf {text:?}: use video or audio")))?,
        ),
    };
    let absolute = |output: Option<String>, op: &str| -> Result<PathBuf, BadJob> {
        let output = PathBuf::from(output.ok_or_else(|| bad(format!("{op} needs output")))?);
        if output.is_absolute() {
            Ok(output)
        } else {
            Err(bad(format!(
                "output must be an absolute path (got {})",
                output.display()
            )))
        }
    };
    if raw.op != "plan" && raw.captions.is_some() {
        return Err(bad("only a plan job takes captions".into()));
    }
    if raw.op != "webvtt" && raw.op != "captions" && raw.track_id.is_some() {
        return Err(bad("only a webvtt job takes track_id".into()));
    }
    let op = match raw.op.as_str() {
        "webvtt" | "captions" => {
            source_free(&raw.op)?;
            let extra = raw.k.is_some()
                || raw.output.is_some()
                || cmaf.is_some()
                || raw.encryption_key.is_some()
                || raw.cbcs.is_some()
                || raw.trim_start.is_some()
                || raw.trim_end.is_some()
                || raw.video_track_id.is_some()
                || raw.audio_track_id.is_some()
                || raw.align_to_video.is_some();
            if extra {
                return Err(bad(format!("{} takes input and track_id only", raw.op)));
            }
            let op = match (raw.op.as_str(), raw.track_id) {
                ("webvtt", Some(track_id)) => Op::WebVtt { track_id },
                ("webvtt", None) => return Err(bad("webvtt needs track_id".into())),
                (_, None) => Op::Captions,
                (_, Some(_)) => return Err(bad("captions takes no track_id".into())),
            };
            return Ok(Job {
                id: raw.id,
                op,
                input: raw.input.map(PathBuf::from),
                plan: PlanOptions::default(),
                cmaf: None,
                encryption_key: None,
                cbcs: None,
                captions: false,
            });
        }
        "stats" => {
            source_free("stats")?;
            if raw.input.is_some()
                || raw.k.is_some()
                || raw.output.is_some()
                || cmaf.is_some()
                || raw.encryption_key.is_some()
                || raw.cbcs.is_some()
                || raw.video_track_id.is_some()
                || raw.audio_track_id.is_some()
                || raw.align_to_video.is_some()
            {
                return Err(bad(
                    "stats takes no input, k, output, cmaf, encryption_key, cbcs, track ids or align_to_video"
                        .into(),
                ));
            }
            return Ok(Job {
                id: raw.id,
                op: Op::Stats,
                input: None,
                plan: PlanOptions::default(),
                cmaf: None,
                encryption_key: None,
                cbcs: None,
                captions: false,
            });
        }
        "plan" => {
            if raw.k.is_some() || raw.output.is_some() {
                return Err(bad("plan takes no k or output".into()));
            }
            Op::Plan
        }
        "segment" => {
            let k = raw.k.ok_or_else(|| bad("segment needs k".into()))?;
            let output = raw
                .output
                .ok_or_else(|| bad("segment needs output".into()))?;
            let output = PathBuf::from(output);
            if !output.is_absolute() {
                return Err(bad(format!(
                    "output must be an absolute path (got {})",
                    output.display()
                )));
            }
            Op::Segment { k, output }
        }
        "init" => {
            if cmaf.is_none() || raw.k.is_some() {
                return Err(bad("init needs cmaf and takes no k".into()));
            }
            Op::Init {
                output: absolute(raw.output, "init")?,
            }
        }
        other => {
            return Err(bad(format!(
                "unknown op {other:?}: use plan, segment, init, webvtt, captions or stats"
            )))
        }
    };
    let seconds = raw
        .segment_duration
        .ok_or_else(|| bad("segment_duration is missing".into()))?;
    // The one-shot `--segment-duration` and `--first-segment-number` bounds.
    if !(seconds > 0.0 && seconds.is_finite() && seconds <= 86_400.0) {
        return Err(bad(format!(
            "segment_duration must be above 0 (got {seconds})"
        )));
    }
    let first_segment_number = raw.first_segment_number.unwrap_or(1);
    if first_segment_number >= 1 << 52 {
        return Err(bad("first_segment_number is too large".into()));
    }
    let encryption_key = match (&raw.encryption_key, &op, cmaf) {
        (None, _, _) => None,
        (Some(_), Op::Init { .. }, _) | (Some(_), _, Some(_)) => {
            return Err(bad("encryption_key is for TS plan and segment jobs".into()))
        }
        (Some(text), _, None) => Some(
            crate::aes::parse_key(text)
                .ok_or_else(|| bad("encryption_key must be 32 hex digits".into()))?,
        ),
    };
    let cbcs = match (&raw.cbcs, &op, cmaf) {
        (None, _, _) => None,
        (Some(c), Op::Segment { .. } | Op::Init { .. }, Some(_)) => {
            let hex = |name: &str, text: &str| {
                crate::aes::parse_key(text)
                    .ok_or_else(|| bad(format!("cbcs {name} must be 32 hex digits")))
            };
            Some(Cbcs {
                key: hex("key", &c.key)?,
                kid: hex("kid", &c.kid)?,
                iv: hex("iv", &c.iv)?,
            })
        }
        (Some(_), _, _) => return Err(bad("cbcs is for CMAF segment and init jobs".into())),
    };
    let trim = match (&op, raw.trim_start, raw.trim_end) {
        (_, None, None) => None,
        (Op::Segment { k, .. }, start, end) => {
            let ok = |t: Option<f64>| t.is_none_or(|t| t.is_finite() && t >= 0.0);
            if !ok(start) || !ok(end) {
                return Err(bad(
                    "trim_start and trim_end must be seconds, not negative".into()
                ));
            }
            Some(Trim {
                number: *k,
                start,
                end,
            })
        }
        _ => return Err(bad("only a segment job takes trim_start or trim_end".into())),
    };
    Ok(Job {
        id: raw.id,
        op,
        input: raw.input.map(PathBuf::from),
        plan: PlanOptions {
            segment_duration: seconds,
            first_segment_number,
            trim,
            // As `--video-track-id` / `--audio-track-id`: 0 leaves that kind out.
            video_track_id: raw.video_track_id,
            audio_track_id: raw.audio_track_id,
            align_to_video: raw.align_to_video.unwrap_or(false),
            ..PlanOptions::default()
        },
        cmaf,
        encryption_key,
        cbcs,
        captions: raw.captions.unwrap_or(false),
    })
}

/// `{"id":N,"ok":true, …fields}` on one line, newline included.
pub fn success(id: u64, fields: Map<String, Value>) -> String {
    let mut answer = fields;
    answer.insert("id".into(), Value::from(id));
    answer.insert("ok".into(), Value::Bool(true));
    format!("{}\n", Value::Object(answer))
}

/// [`success`] with the fields given as the text of a JSON object (a kept `--plan`
/// document, rendered once): its members follow `id` and `ok`.
pub fn success_with_object(id: u64, object: &str) -> String {
    let members = object
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or("")
        .trim();
    if members.is_empty() {
        format!("{{\"id\":{id},\"ok\":true}}\n")
    } else {
        format!("{{\"id\":{id},\"ok\":true,{members}}}\n")
    }
}

/// `{"id":N|null,"ok":false,"code":C,"reason":"…"}` on one line, newline included.
pub fn failure(id: Option<u64>, code: u8, reason: &str) -> String {
    let mut answer = Map::new();
    answer.insert("id".into(), id.map_or(Value::Null, Value::from));
    answer.insert("ok".into(), Value::Bool(false));
    answer.insert("code".into(), Value::from(code));
    answer.insert("reason".into(), Value::from(one_line(reason)));
    format!("{}\n", Value::Object(answer))
}

/// Control characters become spaces, as on the one-shot tool's stderr line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
