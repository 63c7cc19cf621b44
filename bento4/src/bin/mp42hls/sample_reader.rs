//! Reads one segment's sample bytes with as few positioned reads as possible: one
//! read over the region the segment's samples occupy when they lie close together
//! (the usual interleaved file), otherwise one read per sample, so memory stays
//! about one segment whatever the file's length or layout.

use bento4::error::Mp4Error;
use bento4::media::Sample;
use bento4::plan::Plan;
use bento4::ts::mux::SampleBytes;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// A region read is used while it holds at most this much besides the samples.
const SLACK_BYTES: u64 = 1 << 20;

pub struct SegmentSamples {
    file: File,
    /// Region or per-sample bytes, reused from segment to segment.
    buf: Vec<u8>,
    video: Index,
    audio: Index,
}

/// Where each sample of the loaded segment sits in `buf`.
#[derive(Default)]
struct Index {
    first: usize,
    spans: Vec<Range<usize>>,
}

impl Index {
    fn get<'b>(&self, buf: &'b [u8], index: usize) -> Option<&'b [u8]> {
        let span = self.spans.get(index.checked_sub(self.first)?)?;
        buf.get(span.clone())
    }
}

impl SegmentSamples {
    pub fn new(file: File) -> SegmentSamples {
        SegmentSamples {
            file,
            buf: Vec::new(),
            video: Index::default(),
            audio: Index::default(),
        }
    }

    /// Reads the samples of `plan.segments[index]`.
    pub fn load(&mut self, plan: &Plan, index: usize) -> Result<(), Mp4Error> {
        let Some(segment) = plan.segments.get(index) else {
            return Err(Mp4Error::Corrupt(format!("no segment {index}")));
        };
        let video = plan
            .streams
            .video
            .as_ref()
            .and_then(|v| v.track.samples.get(segment.video.clone()))
            .unwrap_or(&[]);
        let audio = plan
            .streams
            .audio
            .as_ref()
            .and_then(|a| a.track.samples.get(segment.audio.clone()))
            .unwrap_or(&[]);
        let all = || video.iter().chain(audio.iter());
        let payload: u64 = all().map(|s| u64::from(s.size)).sum();
        let low = all().map(|s| s.offset).min().unwrap_or(0);
        let high = all()
            .map(|s| s.offset.saturating_add(u64::from(s.size)))
            .max()
            .unwrap_or(0);
        let span = high.saturating_sub(low);
        if span <= payload.saturating_mul(2).saturating_add(SLACK_BYTES) {
            let len = usize::try_from(span).map_err(|_| too_big(span))?;
            self.read_into(low, len, 0)?;
            self.video = region_index(segment.video.start, video, low);
            self.audio = region_index(segment.audio.start, audio, low);
        } else {
            let len = usize::try_from(payload).map_err(|_| too_big(payload))?;
            self.ensure_len(len);
            let mut at = 0;
            self.video = self.read_each(segment.video.start, video, &mut at)?;
            self.audio = self.read_each(segment.audio.start, audio, &mut at)?;
        }
        Ok(())
    }

    fn ensure_len(&mut self, len: usize) {
        // Grow only: zeroing the buffer again for every segment would cost a pass.
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    fn read_into(&mut self, offset: u64, len: usize, at: usize) -> Result<(), Mp4Error> {
        self.ensure_len(at + len);
        let target = self
            .buf
            .get_mut(at..at + len)
            .ok_or_else(|| Mp4Error::Io("read buffer too small".into()))?;
        self.file.read_exact_at(target, offset).map_err(|e| {
            Mp4Error::Corrupt(format!("reading {len} bytes of samples at {offset}: {e}"))
        })
    }

    fn read_each(
        &mut self,
        first: usize,
        samples: &[Sample],
        at: &mut usize,
    ) -> Result<Index, Mp4Error> {
        let mut spans = Vec::with_capacity(samples.len());
        for sample in samples {
            let len = sample.size as usize;
            self.read_into(sample.offset, len, *at)?;
            spans.push(*at..*at + len);
            *at += len;
        }
        Ok(Index { first, spans })
    }
}

fn region_index(first: usize, samples: &[Sample], base: u64) -> Index {
    let spans = samples
        .iter()
        .map(|s| {
            let start = s.offset.saturating_sub(base) as usize;
            start..start.saturating_add(s.size as usize)
        })
        .collect();
    Index { first, spans }
}

fn too_big(bytes: u64) -> Mp4Error {
    Mp4Error::Unsupported(format!("a segment of {bytes} bytes is too large to read"))
}

impl SampleBytes for SegmentSamples {
    fn video(&self, index: usize) -> Option<&[u8]> {
        self.video.get(&self.buf, index)
    }

    fn audio(&self, index: usize) -> Option<&[u8]> {
        self.audio.get(&self.buf, index)
    }
}
