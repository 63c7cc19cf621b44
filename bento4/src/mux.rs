//! Writes one segment's transport stream from the plan and the sample bytes the
//! caller hands in. Pure: no I/O; the caller reads samples and writes files.
//! It sits above both the plan (which says what goes where) and `ts` (packets,
//! PES, PSI, framing), which the plan uses to size segments: `ts` imports
//! neither.

use crate::plan::{Plan, Unit};
use crate::ts::packet::{write_pes_packets, write_section_packet};
use crate::ts::{pes, psi};

/// Sample bytes by index, as the caller has read them.
pub trait SampleBytes {
    fn video(&self, index: usize) -> Option<&[u8]>;
    fn audio(&self, index: usize) -> Option<&[u8]>;
}

/// The input did not hold what its index promised (a NAL length past its sample, a
/// sample missing): the file is corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxError(pub String);

/// Reusable state for writing segments: the PSI sections and a PES scratch buffer.
pub struct SegmentWriter {
    pat: Vec<u8>,
    pmt: Vec<u8>,
    scratch: Vec<u8>,
}

impl SegmentWriter {
    pub fn new(plan: &Plan) -> SegmentWriter {
        SegmentWriter {
            pat: psi::pat_section(plan.options.pmt_pid),
            pmt: psi::pmt_section(plan.streams.pcr_pid(), &plan.streams.pmt_streams()),
            scratch: Vec::new(),
        }
    }

    /// Appends segment `index` (into `plan.segments`) to `out`.
    pub fn write(
        &mut self,
        plan: &Plan,
        index: usize,
        bytes: &dyn SampleBytes,
        out: &mut Vec<u8>,
    ) -> Result<(), MuxError> {
        let segment = plan
            .segments
            .get(index)
            .ok_or_else(|| MuxError(format!("no segment at index {index}")))?;
        let start_len = out.len();
        let mut cc = segment.continuity;
        let video_pid = plan.streams.video.as_ref().map_or(0, |v| v.pid);
        let audio_pid = plan.streams.audio.as_ref().map_or(0, |a| a.pid);
        for unit in plan.units(segment) {
            match unit {
                Unit::Tables => {
                    write_section_packet(out, 0, &mut cc.pat, &self.pat);
                    write_section_packet(out, plan.options.pmt_pid, &mut cc.pmt, &self.pmt);
                }
                Unit::Video(i) => {
                    self.video_pes(plan, i, bytes)?;
                    write_pes_packets(
                        out,
                        video_pid,
                        &mut cc.video,
                        plan.video_flags(i),
                        &self.scratch,
                    );
                }
                Unit::Audio(range) => {
                    let first = range.start;
                    self.audio_pes(plan, range, bytes)?;
                    write_pes_packets(
                        out,
                        audio_pid,
                        &mut cc.audio,
                        plan.audio_flags_at(first),
                        &self.scratch,
                    );
                }
            }
        }
        let written = (out.len() - start_len) as u64;
        if written != segment.size {
            return Err(MuxError(format!(
                "segment {} came out {written} bytes where the plan says {}",
                segment.number, segment.size
            )));
        }
        Ok(())
    }

    fn video_pes(
        &mut self,
        plan: &Plan,
        index: usize,
        bytes: &dyn SampleBytes,
    ) -> Result<(), MuxError> {
        let video = plan
            .streams
            .video
            .as_ref()
            .ok_or_else(|| MuxError("no video stream".into()))?;
        let sample = video
            .track
            .samples
            .get(index)
            .ok_or_else(|| MuxError(format!("no video sample {index}")))?;
        let data = bytes
            .video(index)
            .ok_or_else(|| MuxError(format!("video sample {index} was not read")))?;
        let (pts, dts) = plan.video_times(index);
        let expected = plan.video_pes_len(index);
        self.scratch.clear();
        let payload = expected.saturating_sub(pes::header_size(pts != dts));
        pes::write_header(
            &mut self.scratch,
            pes::STREAM_ID_VIDEO,
            payload,
            pts,
            dts,
            false,
        );
        video
            .framing
            .write_access_unit(&mut self.scratch, data, sample.sync)
            .map_err(|e| {
                MuxError(format!(
                    "video sample {index} of track {}: {}",
                    video.track.id, e.0
                ))
            })?;
        if self.scratch.len() != expected {
            return Err(MuxError(format!(
                "video sample {index} of track {}: NAL layout differs from the index",
                video.track.id
            )));
        }
        Ok(())
    }

    fn audio_pes(
        &mut self,
        plan: &Plan,
        range: std::ops::Range<usize>,
        bytes: &dyn SampleBytes,
    ) -> Result<(), MuxError> {
        let audio = plan
            .streams
            .audio
            .as_ref()
            .ok_or_else(|| MuxError("no audio stream".into()))?;
        let time = plan.audio_time(range.start);
        let expected = plan.audio_pes_len(range.clone());
        self.scratch.clear();
        pes::write_header(
            &mut self.scratch,
            audio.stream_id,
            plan.audio_payload_len(range.clone()),
            time,
            time,
            true,
        );
        for index in range {
            let data = bytes
                .audio(index)
                .ok_or_else(|| MuxError(format!("audio sample {index} was not read")))?;
            audio
                .framing
                .write_frame(&mut self.scratch, data)
                .map_err(|e| {
                    MuxError(format!(
                        "audio sample {index} of track {}: {}",
                        audio.track.id, e.0
                    ))
                })?;
        }
        if self.scratch.len() != expected {
            return Err(MuxError(format!(
                "audio of track {} differs in size from its index",
                audio.track.id
            )));
        }
        Ok(())
    }
}
