//! What a one-shot run and a `--serve` job share, so both give the same bytes and
//! the same reasons: building the plan (with its corruption checks), the `--plan`
//! document, the segment range check, and muxing one segment from the source file.

use crate::sample_reader::SegmentSamples;
use bento4::aes;
use bento4::cli::mp42hls::{Encryption, IvMode};
use bento4::cmaf::protect::Cbcs;
use bento4::cmaf::{self, CmafTrack};
use bento4::error::Mp4Error;
use bento4::media::Movie;
use bento4::mp4::codecs_string;
use bento4::mux::SegmentWriter;
use bento4::plan::stats::CodecNames;
use bento4::plan::{select_streams, Plan, PlanError, PlanOptions, SegmentPlan};
use bento4::source::read_sample;
use serde_json::Value;
use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A failure: exit code (bento4/README.md) and the one-line reason.
pub struct Failure(pub u8, pub String);

impl From<Mp4Error> for Failure {
    fn from(e: Mp4Error) -> Self {
        Failure(e.exit_code() as u8, e.to_string())
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Unsupported(m) => Failure(3, format!("unsupported input: {m}")),
            PlanError::Corrupt(m) => Failure(2, format!("corrupt input: {m}")),
        }
    }
}

pub fn output_error(path: &Path, e: std::io::Error) -> Failure {
    Failure(4, format!("writing {}: {e}", path.display()))
}

/// The plan for `options` on `movie`. Short NAL length prefixes grow by a start
/// code per NAL: then the video samples are read from `file` to count them (see
/// bento4/README.md).
pub fn build_plan<'m>(
    movie: &'m Movie,
    file: &File,
    options: &PlanOptions,
) -> Result<Plan<'m>, Failure> {
    let mut streams = select_streams(movie, options)?;
    if streams.video_needs_nal_counts() {
        if let Some(video) = streams.video.as_mut() {
            let mut buf = Vec::new();
            let mut counts = Vec::with_capacity(video.track.samples.len());
            for sample in &video.track.samples {
                read_sample(file, &sample, &mut buf)?;
                let count = video.framing.nal_count(&buf).map_err(|e| {
                    Failure(
                        2,
                        format!("corrupt input: track {}: {}", video.track.id, e.0),
                    )
                })?;
                counts.push(u32::try_from(count).unwrap_or(u32::MAX));
            }
            video.nal_counts = Some(counts);
        }
    }
    Ok(Plan::new(movie, options.clone(), streams)?)
}

pub fn codec_names(plan: &Plan) -> CodecNames {
    CodecNames {
        audio: plan
            .streams
            .audio
            .as_ref()
            .and_then(|a| codecs_string(&a.track.codec)),
        video: plan
            .streams
            .video
            .as_ref()
            .and_then(|v| codecs_string(&v.track.codec)),
    }
}

/// A segment's size in its file: AES-128 pads it.
pub fn size_on_disk(encrypted: bool) -> impl Fn(&SegmentPlan) -> u64 {
    move |s: &SegmentPlan| {
        if encrypted {
            aes::encrypted_len(s.size)
        } else {
            s.size
        }
    }
}

/// The largest WebVTT a timed text track gives (`--webvtt`): beyond it the track is
/// refused, as casterpak refuses a sidecar that large.
pub const MAX_WEBVTT_BYTES: usize = 4 << 20;

/// What `--webvtt <track-id>` prints (and a `webvtt` job answers): the cues of that
/// timed text (`tx3g`) track as WebVTT.
pub fn webvtt_document(movie: &Movie, file: &File, track_id: u32) -> Result<String, Failure> {
    let track = movie
        .tracks
        .iter()
        .find(|t| t.id == track_id)
        .ok_or_else(|| Failure(3, format!("unsupported input: no track {track_id}")))?;
    if !bento4::text::is_timed_text(track) {
        return Err(Failure(
            3,
            format!("unsupported input: track {track_id} is not tx3g timed text"),
        ));
    }
    let cues = bento4::text::cues(track, |sample| {
        let mut buf = Vec::new();
        read_sample(file, sample, &mut buf)?;
        Ok(buf)
    })?;
    let text = bento4::text::webvtt(&cues);
    if text.len() > MAX_WEBVTT_BYTES {
        return Err(Failure(
            3,
            format!(
                "unsupported input: track {track_id} gives over {MAX_WEBVTT_BYTES} bytes of WebVTT"
            ),
        ));
    }
    Ok(text)
}

/// Video samples looked at for captions: two seconds at 30 fps. Captions are sent
/// with every frame (null pairs between words), so a title that has them shows them
/// from its first frames.
pub const CAPTION_SAMPLES: usize = 60;
/// Largest span of those samples read in one go.
const CAPTION_SPAN_BYTES: u64 = 8 << 20;

/// What `--captions` prints (and a `captions` job answers): the CEA-608 fields the
/// first video track's first samples carry in their SEI.
pub fn captions_document(movie: &Movie, file: &File) -> Result<Value, Failure> {
    use bento4::media::{Codec, TrackKind};
    let video = movie
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video && matches!(t.codec, Codec::Avc(_) | Codec::Hevc(_)));
    let mut found = bento4::captions::Cea608::default();
    if let Some(track) = video {
        let (width, hevc) = match &track.codec {
            Codec::Avc(avc) => (avc.nalu_length_size, false),
            Codec::Hevc(hevc) => (hevc.nalu_length_size, true),
            _ => (0, false),
        };
        let samples: Vec<_> = track.samples.iter().take(CAPTION_SAMPLES).collect();
        // The first samples lie close together (interleaved with audio): one read
        // of the span they cover, not one per sample, unless the span is large.
        let start = samples.iter().map(|s| s.offset).min().unwrap_or(0);
        let end = samples
            .iter()
            .map(|s| s.offset.saturating_add(u64::from(s.size)))
            .max()
            .unwrap_or(0);
        let mut buf = Vec::new();
        if end - start <= CAPTION_SPAN_BYTES {
            let mut span = vec![0; (end - start) as usize];
            file.read_exact_at(&mut span, start).map_err(|e| {
                let what = format!("reading {} bytes at {start}", span.len());
                Mp4Error::from_read(what, &e)
            })?;
            for sample in &samples {
                let from = (sample.offset - start) as usize;
                let bytes = span.get(from..from + sample.size as usize).unwrap_or(&[]);
                found = found.or(bento4::captions::in_sample(bytes, width, hevc));
            }
        } else {
            for sample in &samples {
                read_sample(file, sample, &mut buf)?;
                found = found.or(bento4::captions::in_sample(&buf, width, hevc));
            }
        }
    }
    Ok(serde_json::json!({
        "cea608": { "field1": found.field1, "field2": found.field2 },
    }))
}

/// What `--plan` prints (and a `plan` job answers).
pub fn plan_document(plan: &Plan, encrypted: bool) -> Value {
    let stats = plan.stats(size_on_disk(encrypted));
    plan.plan_json(&stats, &codec_names(plan), size_on_disk(encrypted))
}

/// `--plan --cmaf` (and a plan job with `cmaf`): the plan document plus, per
/// CMAF track, its time scale, codec and every segment's `[tfdt, duration]` in
/// that scale, which a DASH SegmentTimeline lists as they are; for video, each
/// segment's I-frame byte range (an I-frame playlist's entry).
pub fn cmaf_plan_document(plan: &Plan) -> Value {
    let mut doc = plan_document(plan, false);
    let names = codec_names(plan);
    let mut tracks = serde_json::Map::new();
    for (kind, codec) in [
        (CmafTrack::Video, names.video),
        (CmafTrack::Audio, names.audio),
    ] {
        if let Some((timescale, times)) = cmaf::timeline(plan, kind) {
            let segments: Vec<Value> = times
                .iter()
                .map(|t| Value::from(vec![t.start, t.duration]))
                .collect();
            let mut track =
                serde_json::json!({"timescale": timescale, "codec": codec, "segments": segments});
            if let Some(start) = cmaf::presentation_start(plan, kind) {
                track["presentation_start"] = Value::from(start);
            }
            if kind == CmafTrack::Video {
                // Each segment's I-frame as `[offset, size]` in its file (`null`: none).
                let iframes: Vec<Value> = (0..times.len())
                    .map(|i| match cmaf::keyframe_range(plan, i) {
                        Some(size) => Value::from(vec![0, size]),
                        None => Value::Null,
                    })
                    .collect();
                track["iframes"] = Value::from(iframes);
            }
            tracks.insert(kind.name().into(), track);
        }
    }
    if let Some(map) = doc.as_object_mut() {
        map.insert("cmaf".into(), Value::Object(tracks));
    }
    doc
}

/// The CMAF init segment of `kind` (`cbcs`-protected when asked), or why the track
/// cannot be CMAF (exit 3).
pub fn cmaf_init(plan: &Plan, kind: CmafTrack, cbcs: Option<&Cbcs>) -> Result<Vec<u8>, Failure> {
    cmaf::init_segment(plan, kind, cbcs)
        .map_err(|e| Failure(3, format!("unsupported input: {}", e.0)))
}

/// Indices into `plan.segments` of segments `first..=last`, or exit 5.
pub fn segment_indices(
    plan: &Plan,
    first: u64,
    last: u64,
) -> Result<RangeInclusive<usize>, Failure> {
    match (plan.segment_index(first), plan.segment_index(last)) {
        (Some(from), Some(to)) => Ok(from..=to),
        _ => {
            let from = plan.options.first_segment_number;
            let to = from.saturating_add((plan.segments.len() as u64).saturating_sub(1));
            Err(Failure(
                5,
                format!("segments {first}-{last} out of range ({from}-{to})"),
            ))
        }
    }
}

/// How a segment is encrypted: the key and the run's random IV, if any.
pub struct Key<'a> {
    pub encryption: &'a Encryption,
    pub random_iv: Option<[u8; 16]>,
}

/// The IV of one segment: its sequence number, or the run's random IV.
fn segment_iv(key: &Key, number: u64) -> [u8; 16] {
    match (key.encryption.iv_mode, key.random_iv) {
        (IvMode::Random, Some(iv)) => iv,
        _ => aes::sequence_iv(number),
    }
}

/// Muxes segments of one plan: the sample reader and the output buffer are reused
/// from segment to segment (and, in `--serve`, from job to job).
#[derive(Default)]
pub struct Muxer {
    samples: SegmentSamples,
    out: Vec<u8>,
}

impl Muxer {
    /// Segment `index` of `plan`, its samples read from `file`, encrypted when asked.
    pub fn segment(
        &mut self,
        file: &File,
        plan: &Plan,
        writer: &mut SegmentWriter,
        index: usize,
        key: Option<&Key>,
    ) -> Result<&[u8], Failure> {
        self.samples.load(file, plan, index)?;
        self.out.clear();
        writer
            .write(plan, index, &self.samples, &mut self.out)
            .map_err(|e| Failure(2, format!("corrupt input: {}", e.0)))?;
        if let (Some(key), Some(segment)) = (key, plan.segments.get(index)) {
            aes::encrypt_in_place(
                &mut self.out,
                &key.encryption.key,
                &segment_iv(key, segment.number),
            );
        }
        Ok(&self.out)
    }

    /// CMAF segment `index` of the `kind` track, its samples read from `file`.
    pub fn cmaf_segment(
        &mut self,
        file: &File,
        plan: &Plan,
        index: usize,
        (kind, cbcs): (CmafTrack, Option<&Cbcs>),
    ) -> Result<&[u8], Failure> {
        // Refused the way an init is, before any read, when the track cannot be CMAF.
        cmaf_init(plan, kind, cbcs)?;
        self.samples.load(file, plan, index)?;
        self.out.clear();
        cmaf::write_fragment(plan, index, kind, &self.samples, &mut self.out, cbcs)
            .map_err(|e| Failure(2, format!("corrupt input: {}", e.0)))?;
        Ok(&self.out)
    }

    /// Frees buffers that grew past `keep` bytes (see `SegmentSamples::shrink_to`).
    pub fn shrink_to(&mut self, keep: usize) {
        self.samples.shrink_to(keep);
        if self.out.capacity() > keep {
            self.out = Vec::new();
        }
    }

    /// The last segment muxed.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Reads the last segment's samples took.
    pub fn reads(&self) -> usize {
        self.samples.reads
    }
}
