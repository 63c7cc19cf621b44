//! [`SampleTable`]: a track's samples in a compact form. A long title has close to
//! a million samples, so what is held per sample decides the tool's memory: here it
//! is the size (2 bytes, 4 when a sample is 64 KB or more), the distance of its
//! offset from a per-block base (4 bytes), one bit for sync, and the composition
//! offset (4 bytes) only when some sample has one. Decode times and durations are kept as runs of equal durations,
//! as `stts` stores them. A [`Sample`] is rebuilt on demand.

mod columns;
mod traversal;

use super::Sample;
use columns::{Offsets, Sizes};
pub use traversal::Samples;

/// Consecutive samples whose decode times step by one duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeRun {
    /// Index of the run's first sample.
    first: usize,
    dts: u64,
    duration: u32,
}

/// `len` samples from index `first`: decode times `dts`, `dts + duration`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingRun {
    pub first: usize,
    pub len: usize,
    pub dts: u64,
    pub duration: u32,
}

impl TimingRun {
    /// Decode time of the run's last sample.
    pub fn last_dts(&self) -> u64 {
        let steps = self.len.saturating_sub(1) as u64;
        self.dts
            .saturating_add(steps.saturating_mul(u64::from(self.duration)))
    }
}

#[derive(Clone, Default)]
pub struct SampleTable {
    sizes: Sizes,
    offsets: Offsets,
    runs: Vec<TimeRun>,
    /// None while every composition offset is 0.
    cts_offsets: Option<Vec<i32>>,
    /// One bit per sample.
    sync: Vec<u64>,
    /// Decode time the next sample has if it continues the last run.
    run_next_dts: Option<u64>,
    /// Samples room was reserved for, so a late composition column is sized once.
    reserved: usize,
}

impl SampleTable {
    pub fn new() -> SampleTable {
        SampleTable::default()
    }

    /// An empty table with room for `count` samples. The caller has checked `count`
    /// against the input (`mp4::sample_table::check_sample_count`).
    pub fn with_capacity(count: usize) -> SampleTable {
        let mut table = SampleTable::default();
        table.reserve(count);
        table
    }

    pub fn reserve(&mut self, additional: usize) {
        self.sizes.reserve_exact(additional);
        self.offsets.reserve(additional);
        self.sync.reserve(additional / 64 + 1);
        self.reserved = self.len().saturating_add(additional);
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Bytes this table holds on the heap (what decides the tool's memory).
    pub fn heap_bytes(&self) -> usize {
        self.sizes.heap_bytes()
            + self.offsets.heap_bytes()
            + self.runs.capacity() * std::mem::size_of::<TimeRun>()
            + self.cts_offsets.as_ref().map_or(0, |c| c.capacity() * 4)
            + self.sync.capacity() * 8
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.len() == 0
    }

    /// Appends a sample (decode order).
    pub fn push(&mut self, sample: Sample) {
        let index = self.sizes.len();
        self.sizes.push(sample.size);
        self.offsets.push(index, sample.offset);
        let continues = self.run_next_dts == Some(sample.dts)
            && self
                .runs
                .last()
                .is_some_and(|run| run.duration == sample.duration);
        // Within a run, dts = run start + steps × duration never overflows: each
        // step was added with this check.
        self.run_next_dts = sample.dts.checked_add(u64::from(sample.duration));
        if !continues {
            self.runs.push(TimeRun {
                first: index,
                dts: sample.dts,
                duration: sample.duration,
            });
        }
        if sample.cts_offset != 0 && self.cts_offsets.is_none() {
            let mut zeros = Vec::with_capacity(self.reserved.max(index + 1));
            zeros.resize(index, 0);
            self.cts_offsets = Some(zeros);
        }
        if let Some(offsets) = &mut self.cts_offsets {
            offsets.push(sample.cts_offset);
        }
        if index.is_multiple_of(64) {
            self.sync.push(0);
        }
        if let (true, Some(word)) = (sample.sync, self.sync.last_mut()) {
            *word |= 1 << (index % 64);
        }
    }

    /// Sample `index`, rebuilt from the compact form.
    pub fn get(&self, index: usize) -> Option<Sample> {
        let size = self.sizes.get(index)?;
        Some(self.assemble(index, size, self.run_of(index)?))
    }

    // Single fields, for the planner's many lookups that need one or two of them.

    /// Every sample's size, in decode order.
    pub fn sizes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).map(|index| self.sizes.get(index).unwrap_or(0))
    }

    /// (offset, size) of every sample, in decode order.
    pub fn spans(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..self.len()).map(|index| {
            (
                self.offsets.get(index).unwrap_or(0),
                self.sizes.get(index).unwrap_or(0),
            )
        })
    }

    pub fn size(&self, index: usize) -> Option<u32> {
        self.sizes.get(index)
    }

    /// Decode time and duration of sample `index`.
    pub fn timing(&self, index: usize) -> Option<(u64, u32)> {
        if index >= self.len() {
            return None;
        }
        let run = self.run_of(index)?;
        Some((run_dts(run, index), run.duration))
    }

    pub fn dts(&self, index: usize) -> Option<u64> {
        self.timing(index).map(|(dts, _)| dts)
    }

    /// 0 for a sample past the end.
    pub fn cts_offset(&self, index: usize) -> i32 {
        self.cts_offsets
            .as_ref()
            .and_then(|offsets| offsets.get(index).copied())
            .unwrap_or(0)
    }

    /// False for a sample past the end.
    pub fn is_sync(&self, index: usize) -> bool {
        self.sync
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// The decode-time runs: stretches of samples that step by one duration, in
    /// decode order (one per `stts` entry, or per fragment run when `tfdt` jumps).
    /// What checks on timing walk instead of every sample.
    pub fn timing_runs(&self) -> impl Iterator<Item = TimingRun> + '_ {
        let len = self.len();
        self.runs.iter().enumerate().map(move |(k, run)| {
            let end = self.runs.get(k + 1).map_or(len, |next| next.first);
            TimingRun {
                first: run.first,
                len: end.saturating_sub(run.first),
                dts: run.dts,
                duration: run.duration,
            }
        })
    }

    fn run_of(&self, index: usize) -> Option<&TimeRun> {
        match self.runs.as_slice() {
            // The common case (constant frame or sample duration): no search.
            [only] => Some(only),
            runs => runs.get(runs.partition_point(|r| r.first <= index).checked_sub(1)?),
        }
    }

    fn assemble(&self, index: usize, size: u32, run: &TimeRun) -> Sample {
        Sample {
            offset: self.offsets.get(index).unwrap_or(0),
            size,
            dts: run_dts(run, index),
            cts_offset: self.cts_offset(index),
            sync: self.is_sync(index),
            duration: run.duration,
        }
    }

    pub fn first(&self) -> Option<Sample> {
        self.get(0)
    }

    pub fn last(&self) -> Option<Sample> {
        self.get(self.len().checked_sub(1)?)
    }
}

/// Decode time of sample `index` of `run`. push() checked that this product and sum
/// fit for every index it accepted; saturating keeps any other index harmless.
fn run_dts(run: &TimeRun, index: usize) -> u64 {
    let steps = index.saturating_sub(run.first) as u64;
    run.dts
        .saturating_add(steps.saturating_mul(u64::from(run.duration)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(
        offset: u64,
        size: u32,
        dts: u64,
        cts_offset: i32,
        sync: bool,
        duration: u32,
    ) -> Sample {
        Sample {
            offset,
            size,
            dts,
            cts_offset,
            sync,
            duration,
        }
    }

    /// `count` samples of `size` bytes back to back from `offset`, durations `duration`.
    fn regular(count: usize, offset: u64, size: u32, duration: u32) -> Vec<Sample> {
        (0..count)
            .map(|i| {
                sample(
                    offset + i as u64 * u64::from(size),
                    size,
                    i as u64 * u64::from(duration),
                    0,
                    i % 48 == 0,
                    duration,
                )
            })
            .collect()
    }

    #[test]
    fn round_trips_every_shape() {
        let mut backwards = regular(600, 1 << 20, 100, 1024);
        backwards[300].offset = 5;
        let mut far = regular(600, 0, 100, 1024);
        far[520].offset = 1 << 40;
        let mut timing = regular(600, 0, 10, 512);
        // A jump in decode time (a fragment's tfdt), a changed duration, a B-frame offset.
        timing.iter_mut().skip(200).for_each(|s| s.dts += 7);
        timing.iter_mut().skip(400).for_each(|s| s.duration = 100);
        for (i, s) in timing.iter_mut().enumerate().skip(401) {
            s.dts = 400 * 512 + 7 + (i as u64 - 400) * 100;
        }
        timing[450].cts_offset = -3;
        let mut extremes = vec![
            sample(u64::MAX, u32::MAX, u64::MAX - 1, i32::MIN, true, u32::MAX),
            sample(0, 0, u64::MAX, i32::MAX, false, u32::MAX),
        ];
        extremes.extend(regular(70, 0, 1, 0));
        let cases: Vec<(&str, Vec<Sample>)> = vec![
            ("empty", vec![]),
            ("one", regular(1, 42, 7, 1)),
            ("regular, several blocks", regular(1000, 4096, 1500, 512)),
            ("offset backwards", backwards),
            ("offset 1 TB ahead", far),
            ("runs and cts", timing),
            ("extremes", extremes),
        ];
        for (name, samples) in cases {
            let table: SampleTable = samples.iter().copied().collect();
            assert_eq!(table.len(), samples.len(), "{name}");
            assert!(table.iter().eq(samples.iter().copied()), "{name}: iter");
            for (index, expected) in samples.iter().enumerate() {
                assert_eq!(table.get(index), Some(*expected), "{name}: sample {index}");
            }
            for (index, expected) in samples.iter().enumerate() {
                let fields = (
                    table.size(index),
                    table.timing(index),
                    table.dts(index),
                    table.cts_offset(index),
                    table.is_sync(index),
                );
                let wanted = (
                    Some(expected.size),
                    Some((expected.dts, expected.duration)),
                    Some(expected.dts),
                    expected.cts_offset,
                    expected.sync,
                );
                assert_eq!(fields, wanted, "{name}: fields of sample {index}");
            }
            let past = samples.len();
            assert_eq!(table.get(past), None, "{name}");
            let fields_past = (
                table.size(past),
                table.timing(past),
                table.cts_offset(past),
                table.is_sync(past),
            );
            assert_eq!(fields_past, (None, None, 0, false), "{name}");
            assert!(
                table.spans().eq(samples.iter().map(|s| (s.offset, s.size))),
                "{name}: spans"
            );
            assert_eq!(table.first(), samples.first().copied(), "{name}");
            assert_eq!(table.last(), samples.last().copied(), "{name}");
            let middle = samples.len() / 3..samples.len() / 2;
            assert!(
                table
                    .range(middle.clone())
                    .eq(samples[middle].iter().copied()),
                "{name}: range"
            );
            assert_eq!(
                table.range(5..usize::MAX).len(),
                samples.len().saturating_sub(5)
            );
        }
    }

    #[test]
    fn timing_runs_follow_the_decode_times() {
        let mut samples = regular(10, 0, 1, 512);
        samples.iter_mut().skip(4).for_each(|s| s.dts += 7);
        samples[9].duration = 0;
        let table: SampleTable = samples.into_iter().collect();
        let runs: Vec<TimingRun> = table.timing_runs().collect();
        let run = |first, len, dts, duration| TimingRun {
            first,
            len,
            dts,
            duration,
        };
        assert_eq!(
            runs,
            vec![run(0, 4, 0, 512), run(4, 5, 2055, 512), run(9, 1, 4615, 0)]
        );
        assert_eq!(runs[1].last_dts(), 2055 + 4 * 512);
        assert_eq!(SampleTable::new().timing_runs().count(), 0);
    }

    #[test]
    fn regular_track_holds_about_six_bytes_per_sample() {
        let table: SampleTable = regular(10_000, 0, 700, 1024).into();
        assert_eq!(table.runs.len(), 1);
        assert!(table.cts_offsets.is_none());
        assert!(matches!(table.sizes, Sizes::Narrow(_)));
        assert!(matches!(table.offsets, Offsets::Narrow { .. }));
        // 2 (size) + 4 (offset) + a base per 256 and a sync bit: under 6.2 bytes.
        assert!(table.heap_bytes() <= 62_000, "{}", table.heap_bytes());
    }
}
