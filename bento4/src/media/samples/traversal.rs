//! Walking a [`SampleTable`] and the conversions from and to plain samples.

use super::{Sample, SampleTable};
use std::fmt;
use std::ops::Range;

impl SampleTable {
    /// Every sample in decode order.
    pub fn iter(&self) -> Samples<'_> {
        self.range(0..self.len())
    }

    /// Samples `range` (clamped to the table) in decode order.
    pub fn range(&self, range: Range<usize>) -> Samples<'_> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        Samples {
            table: self,
            next: start,
            end,
            run: self
                .runs
                .partition_point(|r| r.first <= start)
                .saturating_sub(1),
        }
    }
}

/// Iterator over a [`SampleTable`]: walks the time runs instead of searching them.
pub struct Samples<'t> {
    table: &'t SampleTable,
    next: usize,
    end: usize,
    run: usize,
}

impl Iterator for Samples<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        while self
            .table
            .runs
            .get(self.run + 1)
            .is_some_and(|r| r.first <= index)
        {
            self.run += 1;
        }
        let size = self.table.sizes.get(index)?;
        let run = self.table.runs.get(self.run)?;
        self.next += 1;
        Some(self.table.assemble(index, size, run))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Samples<'_> {}

impl<'t> IntoIterator for &'t SampleTable {
    type Item = Sample;
    type IntoIter = Samples<'t>;

    fn into_iter(self) -> Samples<'t> {
        self.iter()
    }
}

impl FromIterator<Sample> for SampleTable {
    fn from_iter<I: IntoIterator<Item = Sample>>(samples: I) -> Self {
        let samples = samples.into_iter();
        let mut table = SampleTable::with_capacity(samples.size_hint().0);
        samples.for_each(|sample| table.push(sample));
        table
    }
}

impl From<Vec<Sample>> for SampleTable {
    fn from(samples: Vec<Sample>) -> Self {
        samples.into_iter().collect()
    }
}

/// Equal when the samples are equal, however they happen to be stored.
impl PartialEq for SampleTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for SampleTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples of 10 bytes back to back; every third a keyframe; durations 1, then 2.
    fn samples(count: u64) -> Vec<Sample> {
        (0..count)
            .map(|i| Sample {
                offset: i * 10,
                size: 10,
                dts: if i < 5 { i } else { 5 + (i - 5) * 2 },
                cts_offset: 0,
                sync: i % 3 == 0,
                duration: if i < 5 { 1 } else { 2 },
            })
            .collect()
    }

    #[test]
    fn ranges_are_clamped_and_cross_runs() {
        let all = samples(12);
        let table = SampleTable::from(all.clone());
        // (range, expected indices)
        let cases = [
            (0..12, 0..12),
            (3..8, 3..8),
            (5..5, 5..5),
            (10..99, 10..12),
            (20..30, 12..12),
        ];
        for (range, expected) in cases {
            let got: Vec<Sample> = table.range(range.clone()).collect();
            assert_eq!(got, all[expected.clone()].to_vec(), "{range:?}");
            assert_eq!(
                table.range(range.clone()).len(),
                expected.len(),
                "{range:?}"
            );
        }
        assert!((&table).into_iter().eq(all.iter().copied()));
        assert_eq!(format!("{table:?}"), format!("{all:?}"));
    }

    #[test]
    fn equality_is_by_content() {
        let table = SampleTable::from(samples(300));
        let mut different = samples(300);
        different[299].sync = !different[299].sync;
        assert_eq!(table, SampleTable::from(samples(300)));
        assert_ne!(table, SampleTable::from(different));
        assert_ne!(table, SampleTable::from(samples(299)));
    }
}
