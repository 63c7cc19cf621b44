//! Reads one segment's sample bytes with as few positioned reads as possible: the
//! segment's samples (video and audio) are sorted by file offset and coalesced into
//! runs, each read with one `pread` into one buffer. A run reads through the gap
//! between two samples when it is at most `MAX_GAP` bytes (the other track's chunk
//! of an interleaved file, or none at all) and while the gaps read through stay
//! within `gap_allowance` of the segment's own bytes; a run stops at `MAX_RUN`
//! bytes, so no single read grows without bound. Memory stays about one segment
//! whatever the file's length or layout.

use bento4::error::Mp4Error;
use bento4::media::Sample;
use bento4::mux::SampleBytes;
use bento4::plan::Plan;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// The largest gap between two samples that one read spans.
const MAX_GAP: u64 = 64 << 10;
/// The longest single read.
const MAX_RUN: u64 = 32 << 20;

/// Bytes of gaps a segment of `payload` sample bytes may read through in all.
fn gap_allowance(payload: u64) -> u64 {
    payload / 4 + MAX_GAP
}

#[derive(Default)]
pub struct SegmentSamples {
    /// The runs' bytes, one after another; reused from segment to segment.
    buf: Vec<u8>,
    video: Index,
    audio: Index,
    /// Reads the last load made (for tests and `--verbose`).
    pub reads: usize,
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

/// One read: `len` bytes at file offset `offset`, into `buf` at `at`.
struct Run {
    offset: u64,
    len: u64,
    at: u64,
}

impl SegmentSamples {
    /// Drops the buffer when it grew past `keep` bytes (a long-lived process keeps
    /// no more than that from one unusually large segment).
    pub fn shrink_to(&mut self, keep: usize) {
        if self.buf.capacity() > keep {
            self.buf = Vec::new();
        }
    }

    /// Reads the samples of `plan.segments[index]` from `file`.
    pub fn load(&mut self, file: &File, plan: &Plan, index: usize) -> Result<(), Mp4Error> {
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
        self.load_samples(
            file,
            (segment.video.start, &video),
            (segment.audio.start, &audio),
        )
    }

    /// Reads these video and audio samples (first index, samples) into the buffer.
    fn load_samples(
        &mut self,
        file: &File,
        video: (usize, &[Sample]),
        audio: (usize, &[Sample]),
    ) -> Result<(), Mp4Error> {
        let all: Vec<&Sample> = video.1.iter().chain(audio.1.iter()).collect();
        let mut by_offset: Vec<usize> = (0..all.len()).collect();
        by_offset.sort_by_key(|&i| all[i].offset);
        let payload: u64 = all.iter().map(|s| u64::from(s.size)).sum();
        let mut allowance = gap_allowance(payload);
        // Each sample's position in the buffer, in `all` order.
        let mut starts = vec![0u64; all.len()];
        let mut runs: Vec<Run> = Vec::new();
        let mut filled = 0u64;
        for &i in &by_offset {
            let sample = all[i];
            let end = sample.offset.saturating_add(u64::from(sample.size));
            let joined = runs.last_mut().and_then(|run| {
                let run_end = run.offset + run.len;
                let gap = sample.offset.saturating_sub(run_end);
                let grows_to = end.max(run_end) - run.offset;
                // Samples may overlap (or repeat): they share the bytes read.
                // (Sorted by offset, so the sample never starts before the run.)
                (gap <= MAX_GAP.min(allowance) && grows_to <= MAX_RUN).then(|| {
                    allowance -= gap;
                    filled += grows_to - run.len;
                    run.len = grows_to;
                    run.at + (sample.offset - run.offset)
                })
            });
            starts[i] = match joined {
                Some(at) => at,
                None => {
                    runs.push(Run {
                        offset: sample.offset,
                        len: u64::from(sample.size),
                        at: filled,
                    });
                    let at = filled;
                    filled += u64::from(sample.size);
                    at
                }
            };
        }
        let total = usize::try_from(filled).map_err(|_| too_big(filled))?;
        // Grow only: zeroing the buffer again for every segment would cost a pass.
        if self.buf.len() < total {
            self.buf.resize(total, 0);
        }
        for run in &runs {
            let (at, len) = (run.at as usize, run.len as usize);
            let target = self
                .buf
                .get_mut(at..at + len)
                .ok_or_else(|| Mp4Error::Io("read buffer too small".into()))?;
            file.read_exact_at(target, run.offset).map_err(|e| {
                Mp4Error::from_read(
                    format!("reading {len} bytes of samples at {}", run.offset),
                    &e,
                )
            })?;
        }
        self.reads = runs.len();
        let span = |k: usize| {
            let at = starts[k] as usize;
            at..at + all[k].size as usize
        };
        self.video = Index {
            first: video.0,
            spans: (0..video.1.len()).map(span).collect(),
        };
        self.audio = Index {
            first: audio.0,
            spans: (video.1.len()..all.len()).map(span).collect(),
        };
        Ok(())
    }
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

    /// A sparse file with bytes (value = offset % 251) at each (offset, len).
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
    fn samples_read_back_exactly_in_as_few_reads_as_the_gaps_allow() {
        // (case, video samples, audio samples, reads expected)
        let cases: [(&str, Vec<Sample>, Vec<Sample>, usize); 5] = [
            // Interleaved and adjacent, out of decode order: one read.
            (
                "close",
                vec![sample(100, 50), sample(200, 70)],
                vec![sample(150, 50)],
                1,
            ),
            // A small hole (another track's chunk) is read through.
            (
                "hole",
                vec![sample(0, 40_000), sample(50_000, 40_000)],
                vec![],
                1,
            ),
            // Far apart: one read each, and only their bytes are held.
            (
                "far",
                vec![sample(10, 30), sample(40_000_000, 20)],
                vec![sample(20_000_000, 9)],
                3,
            ),
            // Gaps under MAX_GAP each, but more than the allowance in all.
            (
                "allowance",
                (0..8).map(|i| sample(i * 60_000, 100)).collect(),
                vec![],
                7,
            ),
            // The same bytes twice (a repeated sample) share one read.
            (
                "overlap",
                vec![sample(500, 100), sample(500, 100), sample(550, 100)],
                vec![],
                1,
            ),
        ];
        for (name, video, audio, reads) in cases {
            let pieces: Vec<(u64, usize)> = video
                .iter()
                .chain(&audio)
                .map(|s| (s.offset, s.size as usize))
                .collect();
            let (path, file) = file_with(name, &pieces);
            let mut reader = SegmentSamples::default();
            reader
                .load_samples(&file, (5, &video), (7, &audio))
                .unwrap();
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
            assert_eq!(reader.reads, reads, "{name}");
            if name == "far" {
                assert!(reader.buf.len() < 1000, "{}", reader.buf.len());
            }
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_sample_past_the_end_is_an_error() {
        let (path, file) = file_with("short", &[(0, 100)]);
        let mut reader = SegmentSamples::default();
        assert!(reader
            .load_samples(&file, (0, &[sample(50, 100)]), (0, &[]))
            .is_err());
        let _ = std::fs::remove_file(path);
    }
}
