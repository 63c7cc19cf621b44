//! Which tracks are muxed and how: codec to TS stream type and framing, PIDs, and
//! the mapping of track times onto the 90 kHz output timeline.

use super::{parameter_sets, timing, PlanError, PlanOptions};
use crate::media::{Codec, Movie, Track, TrackKind};
use crate::ts::adts::AudioFraming;
use crate::ts::annexb::VideoFraming;
use crate::ts::pes;
use crate::ts::psi::{self, PmtStream};

/// The video elementary stream: one PES per sample.
#[derive(Debug, Clone)]
pub struct VideoStream<'m> {
    pub track: &'m Track,
    pub framing: VideoFraming,
    pub stream_type: u8,
    pub pid: u16,
    /// Added to a decode time (track ticks) to put it on the presentation timeline.
    pub shift: i64,
    /// NAL units per sample, needed only when NAL length prefixes are shorter than
    /// the 4-byte start code (see `VideoFraming::needs_nal_counts`).
    pub nal_counts: Option<Vec<u32>>,
}

/// The audio elementary stream: PES packets of several frames.
#[derive(Debug, Clone)]
pub struct AudioStream<'m> {
    pub track: &'m Track,
    pub framing: AudioFraming,
    pub stream_type: u8,
    pub stream_id: u8,
    pub pid: u16,
    pub shift: i64,
}

#[derive(Debug, Clone)]
pub struct Streams<'m> {
    pub video: Option<VideoStream<'m>>,
    pub audio: Option<AudioStream<'m>>,
}

impl Streams<'_> {
    /// True when the caller must read the video samples to count NAL units before
    /// the plan can give exact sizes.
    pub fn video_needs_nal_counts(&self) -> bool {
        self.video
            .as_ref()
            .is_some_and(|v| v.framing.needs_nal_counts() && v.nal_counts.is_none())
    }

    pub fn pcr_pid(&self) -> u16 {
        match (&self.video, &self.audio) {
            (Some(video), _) => video.pid,
            (None, Some(audio)) => audio.pid,
            (None, None) => 0x1FFF,
        }
    }

    pub fn pmt_streams(&self) -> Vec<PmtStream> {
        let mut streams = Vec::new();
        if let Some(video) = &self.video {
            streams.push(PmtStream {
                stream_type: video.stream_type,
                pid: video.pid,
                ac3_registration: false,
            });
        }
        if let Some(audio) = &self.audio {
            streams.push(PmtStream {
                stream_type: audio.stream_type,
                pid: audio.pid,
                ac3_registration: audio.stream_type == psi::STREAM_TYPE_AC3,
            });
        }
        streams
    }
}

/// Picks the tracks to mux and checks that their codecs can go into TS.
pub fn select_streams<'m>(
    movie: &'m Movie,
    options: &PlanOptions,
) -> Result<Streams<'m>, PlanError> {
    let video = match pick_track(movie, TrackKind::Video, options.video_track_id)? {
        Some(track) => Some(video_stream(track, options.video_pid)?),
        None => None,
    };
    let audio = match pick_track(movie, TrackKind::Audio, options.audio_track_id)? {
        Some(track) => Some(audio_stream(track, options.audio_pid)?),
        None => None,
    };
    if video.is_none() && audio.is_none() {
        return Err(PlanError::Unsupported(
            "no audio or video track to package".into(),
        ));
    }
    Ok(Streams { video, audio })
}

/// The first time (90 kHz, before the plan's base) of the tracks a default run would
/// mux but `options` leave out (`--video-track-id 0`, `--audio-track-id 0`): a
/// video-only or audio-only plan keeps the muxed plan's timeline, so its PTS line
/// up with the other kind's as alternate audio needs. Tracks that could not be
/// muxed anyway are left out of it.
pub fn left_out_first_times(movie: &Movie, options: &PlanOptions) -> Vec<i64> {
    [
        (TrackKind::Video, options.video_track_id),
        (TrackKind::Audio, options.audio_track_id),
    ]
    .into_iter()
    .filter(|(_, wanted)| *wanted == Some(0))
    .filter_map(|(kind, _)| {
        let track = pick_track(movie, kind, None).ok()??;
        let shift = shift_of(track).ok()?;
        let first = track.samples.first()?;
        Some(to_90k(shifted(first.dts, shift), track.timescale))
    })
    .collect()
}

/// The track a default run would take as video, and its edit shift: what an
/// audio-alone plan aligned to the video (`align_to_video`) cuts by. None when there
/// is none that could be muxed.
pub(super) fn default_video(movie: &Movie) -> Option<(&Track, i64)> {
    let track = pick_track(movie, TrackKind::Video, None).ok()??;
    Some((track, shift_of(track).ok()?))
}

/// `wanted`: None = the first track of that kind with samples, Some(0) = none,
/// Some(id) = that track, which must exist and be of that kind.
fn pick_track(
    movie: &Movie,
    kind: TrackKind,
    wanted: Option<u32>,
) -> Result<Option<&Track>, PlanError> {
    match wanted {
        Some(0) => Ok(None),
        Some(id) => match movie.tracks.iter().find(|t| t.id == id) {
            Some(track) if track.kind == kind && !track.samples.is_empty() => Ok(Some(track)),
            Some(_) => Err(PlanError::Unsupported(format!(
                "track {id} is not a {} track with samples",
                kind_name(kind)
            ))),
            None => Err(PlanError::Unsupported(format!(
                "no track {id} in the input"
            ))),
        },
        None => Ok(movie
            .tracks
            .iter()
            .find(|t| t.kind == kind && !t.samples.is_empty())),
    }
}

fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video",
        TrackKind::Audio => "audio",
        TrackKind::Other(_) => "other",
    }
}

fn check_timescale(track: &Track) -> Result<(), PlanError> {
    if track.timescale == 0 {
        return Err(PlanError::Corrupt(format!(
            "track {} has a time scale of 0",
            track.id
        )));
    }
    Ok(())
}

fn shift_of(track: &Track) -> Result<i64, PlanError> {
    let empty = i64::try_from(track.edit.empty_duration);
    let start = i64::try_from(track.edit.media_start);
    match (empty, start) {
        (Ok(empty), Ok(start)) => empty.checked_sub(start).ok_or_else(|| {
            PlanError::Corrupt(format!("edit list of track {} overflows", track.id))
        }),
        _ => Err(PlanError::Corrupt(format!(
            "edit list of track {} overflows",
            track.id
        ))),
    }
}

fn unsupported(track: &Track, what: &str) -> PlanError {
    PlanError::Unsupported(format!("unsupported codec {what} in track {}", track.id))
}

fn fourcc_text(fourcc: &[u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

fn video_stream(track: &Track, pid: u16) -> Result<VideoStream<'_>, PlanError> {
    check_timescale(track)?;
    let (framing, stream_type) = match &track.codec {
        Codec::Avc(config) => (VideoFraming::for_avc(config), psi::STREAM_TYPE_AVC),
        Codec::Hevc(config) => (VideoFraming::for_hevc(config), psi::STREAM_TYPE_HEVC),
        Codec::Unsupported(fourcc) => return Err(unsupported(track, &fourcc_text(fourcc))),
        _ => return Err(unsupported(track, "(audio codec in a video track)")),
    };
    let framing =
        framing.map_err(|e| PlanError::Unsupported(format!("track {}: {}", track.id, e.0)))?;
    parameter_sets::check(track)?;
    let shift = shift_of(track)?;
    timing::check_timing(track, shift)?;
    Ok(VideoStream {
        track,
        framing,
        stream_type,
        pid,
        shift,
        nal_counts: None,
    })
}

fn audio_stream(track: &Track, pid: u16) -> Result<AudioStream<'_>, PlanError> {
    check_timescale(track)?;
    let (framing, stream_type, stream_id) = match &track.codec {
        Codec::Aac(config) => (
            AudioFraming::for_aac(config)
                .map_err(|e| PlanError::Unsupported(format!("track {}: {}", track.id, e.0)))?,
            psi::STREAM_TYPE_AAC_ADTS,
            pes::STREAM_ID_AUDIO,
        ),
        Codec::Mp3(basics) => {
            // MPEG-2 audio (type 4) covers the low sampling rates MPEG-1 lacks.
            let stream_type = if basics.sample_rate >= 32000 {
                psi::STREAM_TYPE_MPEG1_AUDIO
            } else {
                psi::STREAM_TYPE_MPEG2_AUDIO
            };
            (AudioFraming::Raw, stream_type, pes::STREAM_ID_AUDIO)
        }
        Codec::Ac3(_) => (
            AudioFraming::Raw,
            psi::STREAM_TYPE_AC3,
            pes::STREAM_ID_PRIVATE_1,
        ),
        Codec::Eac3(_) => (
            AudioFraming::Raw,
            psi::STREAM_TYPE_EAC3,
            pes::STREAM_ID_PRIVATE_1,
        ),
        Codec::Unsupported(fourcc) => return Err(unsupported(track, &fourcc_text(fourcc))),
        _ => return Err(unsupported(track, "(video codec in an audio track)")),
    };
    let shift = shift_of(track)?;
    timing::check_timing(track, shift)?;
    Ok(AudioStream {
        track,
        framing,
        stream_type,
        stream_id,
        pid,
        shift,
    })
}

/// Track ticks to 90 kHz, rounding down (also for negative times).
pub fn to_90k(ticks: i64, timescale: u32) -> i64 {
    // 64-bit when the product fits (any time below about three years at 1 MHz):
    // a 128-bit division costs several times more, and this runs per sample.
    if let Some(product) = ticks.checked_mul(90_000) {
        return product.div_euclid(i64::from(timescale.max(1)));
    }
    let scaled = (i128::from(ticks) * 90_000).div_euclid(i128::from(timescale.max(1)));
    i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

/// A decode time plus an offset, in track ticks, saturating instead of overflowing.
pub fn shifted(dts: u64, offset: i64) -> i64 {
    i64::try_from(dts)
        .unwrap_or(i64::MAX)
        .saturating_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_table() {
        // (ticks, timescale, expected 90 kHz)
        let cases = [
            (0i64, 12288u32, 0i64),
            (512, 12288, 3750),
            (1024, 48000, 1920),
            (-1024, 12288, -7500),
            (-1, 48000, -2),
            (1, 3, 30000),
            (i64::MAX, 1, i64::MAX),
            // Past the 64-bit product: the 128-bit path, exact.
            (i64::MAX / 1000, 90_000, i64::MAX / 1000),
            (i64::MIN / 1000, 90_000, i64::MIN / 1000),
            (i64::MAX / 2, 180_000, i64::MAX / 4),
            (i64::MIN, 1, i64::MIN),
        ];
        for (ticks, timescale, expected) in cases {
            assert_eq!(to_90k(ticks, timescale), expected, "{ticks}/{timescale}");
        }
    }
}
