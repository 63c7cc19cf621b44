//! CMAF runs of our `mp42hls` (`--cmaf`, bento4/README.md "CMAF output"): the plan
//! with per-track timelines, and one init or media segment per job: on the
//! long-lived `--serve` processes when the pool has them, else one-shot runs.

use super::output::{self, ShowInfo};
use super::{input_path, seconds_arg, serve, Tools};
use crate::config::SampleKeys;
use crate::error::IoCause;
use crate::error::ToolError;
use crate::url::cmaf::{init_name, segment_name, Track};
use serde::Deserialize;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// One track's segments on its own timeline: (`tfdt`, duration) in `timescale` ticks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Timeline {
    pub timescale: u32,
    #[serde(default)]
    pub codec: Option<String>,
    pub segments: Vec<(u64, u64)>,
    /// Video: each segment's I-frame as `[offset, size]` in its file (`None`: the
    /// segment does not start with one; empty: a plan from a tool that lists none).
    #[serde(default)]
    pub iframes: Vec<Option<[u64; 2]>>,
    /// When the track's first sample is presented, in its ticks (a B-frame delay
    /// included); absent from plans of older tools.
    #[serde(default)]
    pub presentation_start: Option<u64>,
}

impl Timeline {
    /// Segment durations in seconds (what EXTINF says).
    pub fn durations(&self) -> Vec<f64> {
        let scale = f64::from(self.timescale.max(1));
        self.segments
            .iter()
            .map(|(_, d)| *d as f64 / scale)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Timelines {
    #[serde(default)]
    pub video: Option<Timeline>,
    #[serde(default)]
    pub audio: Option<Timeline>,
}

/// `mp42hls --plan --cmaf video`: the TS plan's facts plus the CMAF timelines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CmafPlan {
    pub cmaf: Timelines,
    #[serde(flatten)]
    pub info: ShowInfo,
}

impl CmafPlan {
    /// The timeline of `track`, in a plan made for it ([`Tools::cmaf_plan`] with its
    /// `audio_track_id`): the audio timeline is the plan's one audio track.
    pub fn track(&self, track: Track) -> Option<&Timeline> {
        match track {
            Track::Video => self.cmaf.video.as_ref(),
            Track::Audio | Track::AudioTrack(_) => self.cmaf.audio.as_ref(),
        }
    }
}

/// Which CMAF file a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmafFile {
    Init(Track),
    Segment(u64, Track),
}

impl CmafFile {
    /// Its name in the rendition's own dir (N = 0).
    pub fn name(self) -> String {
        match self {
            CmafFile::Init(track) => init_name(0, track),
            CmafFile::Segment(k, track) => segment_name(k, 0, track),
        }
    }
}

impl Tools {
    /// The CMAF plan with its timelines; `audio_track_id` picks the audio track its
    /// audio timeline is of (None: the first, as the muxed plan).
    pub async fn cmaf_plan(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        audio_track_id: Option<u32>,
    ) -> Result<CmafPlan, ToolError> {
        if let Some(pool) = &self.serve {
            let job = serve::Job::Cmaf {
                segment_duration,
                track: "video",
                k: None,
                output: None,
                audio_track_id,
                cbcs: None,
            };
            let answer = self.job(pool, "cmaf_plan", job, source).await?;
            return output::parse_json("mp42hls --serve cmaf plan", &answer);
        }
        let mut extra: Vec<String> = vec!["--cmaf".into(), "video".into()];
        if let Some(id) = audio_track_id {
            extra.extend(["--audio-track-id".into(), id.to_string()]);
        }
        let args = super::plan_args(&extra, segment_duration, source);
        let out = self
            .run(&self.mp42hls.clone(), "cmaf_plan", args, None, Some(source))
            .await?;
        output::parse_json("mp42hls --plan --cmaf", &out.stdout)
    }

    /// Writes `file` into `dir` under [`CmafFile::name`] (`cbcs`-protected with
    /// `cbcs`); returns its path.
    pub async fn package_cmaf(
        &self,
        source: BorrowedFd<'_>,
        segment_duration: f64,
        (file, cbcs): (CmafFile, Option<SampleKeys>),
        dir: &Path,
    ) -> Result<PathBuf, ToolError> {
        let name = file.name();
        if let Some(pool) = &self.serve {
            let path = std::path::absolute(dir.join(&name))
                .map_err(|e| ToolError::Failed(format!("scratch path: {}", IoCause::of(&e))))?;
            // A path JSON cannot carry (not UTF-8) takes the one-shot way below.
            if let Some(output) = path.to_str() {
                let (track, k) = match file {
                    CmafFile::Init(track) => (track, None),
                    CmafFile::Segment(k, track) => (track, Some(k)),
                };
                let job = serve::Job::Cmaf {
                    segment_duration,
                    track: track.tool_name(),
                    k,
                    output: Some(output),
                    audio_track_id: track.audio_track_id(),
                    cbcs,
                };
                self.job(pool, "cmaf", job, source).await?;
                return Ok(path);
            }
        }
        let (track, mode) = match file {
            CmafFile::Init(track) => (track, vec!["--init-segment".into()]),
            CmafFile::Segment(k, track) => (track, vec!["--segments".into(), k.to_string().into()]),
        };
        let mut args = vec![
            "--cmaf".into(),
            track.tool_name().into(),
            "--first-segment-number".into(),
            "1".into(),
            "--segment-duration".into(),
            seconds_arg(segment_duration).into(),
            // Relative names + cwd, as for TS: a '%' in the cache path cannot matter.
            "--segment-filename-template".into(),
            format!("segment%d_0_{}.{}", track.tag(), track.segment_extension()).into(),
            "--init-segment-filename".into(),
            init_name(0, track).into(),
        ];
        if let Some(id) = track.audio_track_id() {
            args.extend(["--audio-track-id".into(), id.to_string().into()]);
        }
        if let Some(keys) = cbcs {
            let hex = crate::token::encode_hex;
            args.extend(["--encryption-mode".into(), "cbcs".into()]);
            for (option, value) in [
                ("--encryption-key", &keys.key),
                ("--encryption-kid", &keys.kid),
                ("--encryption-iv", &keys.iv),
            ] {
                args.extend([option.into(), hex(value).into()]);
            }
        }
        args.extend(mode);
        args.push(input_path(source));
        self.run(&self.mp42hls.clone(), "cmaf", args, Some(dir), Some(source))
            .await?;
        let path = dir.join(name);
        if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            return Err(ToolError::BadOutput(format!(
                "mp42hls did not write {}",
                file.name()
            )));
        }
        Ok(path)
    }
}
