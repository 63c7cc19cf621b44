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
        // One segment's worth, copied out of the compact table for the reads below.
        let video: Vec<Sample> = plan
            .streams
            .video
            .as_ref()
            .map(|v| v.track.samples.range(segment.video.clone()).collect())
            .unwrap_or_default();
        let audio: Vec<Sample> = plan
            .streams
            .audio
            .as_ref()
            .map(|a| a.track.samples.range(segment.audio.clone()).collect())
            .unwrap_or_default();
        self.load_samples((segment.video.start, &video), (segment.audio.start, &audio))
    }

    /// Reads these video and audio samples (first index, samples) into the buffer.
    fn load_samples(
        &mut self,
        video: (usize, &[Sample]),
        audio: (usize, &[Sample]),
    ) -> Result<(), Mp4Error> {
        let all = || video.1.iter().chain(audio.1.iter());
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
            self.video = region_index(video.0, video.1, low);
            self.audio = region_index(audio.0, audio.1, low);
        } else {
            let len = usize::try_from(payload).map_err(|_| too_big(payload))?;
            self.ensure_len(len);
            let mut at = 0;
            self.video = self.read_each(video.0, video.1, &mut at)?;
            self.audio = self.read_each(audio.0, audio.1, &mut at)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(offset: u64, size: u32) -> Sample {
        Sample {
            offset,
            size,
            dts: 0,
            cts_offset: 0,
            sync: true,
            duration: 1,
        }
    }

    /// A sparse file with `fill` bytes (value = offset % 251) at each (offset, len).
    fn file_with(name: &str, pieces: &[(u64, usize)]) -> (std::path::PathBuf, File) {
        use std::io::{Seek, SeekFrom, Write};
        let path =
            std::env::temp_dir().join(format!("mp42hls-reader-{name}-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        for &(offset, len) in pieces {
            file.seek(SeekFrom::Start(offset)).unwrap();
            let bytes: Vec<u8> = (0..len as u64)
                .map(|i| ((offset + i) % 251) as u8)
                .collect();
            file.write_all(&bytes).unwrap();
        }
        (path.clone(), File::open(&path).unwrap())
    }

    fn expected(offset: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| ((offset + i) % 251) as u8)
            .collect()
    }

    #[test]
    fn close_and_far_apart_samples_read_back_exactly() {
        // (case, video samples, audio samples): interleaved, then 40 MB apart.
        let cases: [(&str, Vec<Sample>, Vec<Sample>); 2] = [
            (
                "close",
                vec![sample(100, 50), sample(200, 70)],
                vec![sample(150, 50)],
            ),
            (
                "far",
                vec![sample(10, 30), sample(40_000_000, 20)],
                vec![sample(20_000_000, 9)],
            ),
        ];
        for (name, video, audio) in cases {
            let pieces: Vec<(u64, usize)> = video
                .iter()
                .chain(&audio)
                .map(|s| (s.offset, s.size as usize))
                .collect();
            let (path, file) = file_with(name, &pieces);
            let mut reader = SegmentSamples::new(file);
            reader.load_samples((5, &video), (7, &audio)).unwrap();
            for (i, s) in video.iter().enumerate() {
                assert_eq!(
                    reader.video(5 + i),
                    Some(&expected(s.offset, s.size as usize)[..]),
                    "{name}"
                );
            }
            for (i, s) in audio.iter().enumerate() {
                assert_eq!(
                    reader.audio(7 + i),
                    Some(&expected(s.offset, s.size as usize)[..]),
                    "{name}"
                );
            }
            assert_eq!(reader.video(4), None);
            assert_eq!(reader.video(5 + video.len()), None);
            // Far apart samples are read one by one: the buffer holds only them.
            if name == "far" {
                assert!(reader.buf.len() < 1000, "{}", reader.buf.len());
            }
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_sample_past_the_end_is_an_error() {
        let (path, file) = file_with("short", &[(0, 100)]);
        let mut reader = SegmentSamples::new(file);
        assert!(reader
            .load_samples((0, &[sample(50, 100)]), (0, &[]))
            .is_err());
        let _ = std::fs::remove_file(path);
    }
}
