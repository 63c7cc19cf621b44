//! Which blocks of a copy are present, and which runs of blocks a set of byte
//! ranges still needs (pure).

/// Granularity of the input cache: a range is fetched in whole blocks. Small, as what
/// a segment needs beyond its samples is the rounding of its two ends (and of the
/// index's start): at 16 KiB that rounding alone put a first segment's bytes above
/// nginx-vod's probes; one page keeps it under 8 KiB, and 123 MB take a 3.7 KB bitmap.
pub const BLOCK: u64 = 4 << 10;

/// Gaps of at most this many absent-but-unneeded blocks (128 KiB) are fetched too, so
/// that nearby ranges cost one request instead of several.
const JOIN_GAP_BLOCKS: u64 = (128 << 10) / BLOCK;

/// One bit per block of an object of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    size: u64,
    words: Vec<u64>,
}

impl Presence {
    pub fn new(size: u64) -> Presence {
        let blocks = size.div_ceil(BLOCK);
        Presence {
            size,
            words: vec![0; usize::try_from(blocks.div_ceil(64)).unwrap_or(0)],
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn blocks(&self) -> u64 {
        self.size.div_ceil(BLOCK)
    }

    pub fn has(&self, block: u64) -> bool {
        let word = usize::try_from(block / 64)
            .ok()
            .and_then(|i| self.words.get(i));
        word.is_some_and(|w| w & (1 << (block % 64)) != 0)
    }

    fn set(&mut self, block: u64) {
        if let Some(w) = usize::try_from(block / 64)
            .ok()
            .and_then(|i| self.words.get_mut(i))
        {
            *w |= 1 << (block % 64);
        }
    }

    /// Marks blocks `first..end` present (after their bytes were written).
    pub fn mark(&mut self, blocks: std::ops::Range<u64>) {
        for b in blocks {
            self.set(b);
        }
    }

    /// Bytes the present blocks hold (the last block may be short).
    pub fn present_bytes(&self) -> u64 {
        (0..self.blocks())
            .filter(|&b| self.has(b))
            .map(|b| self.block_range(b).1 - b * BLOCK)
            .sum()
    }

    /// `[start, end)` bytes of block `b`, clipped to the object.
    pub fn block_range(&self, b: u64) -> (u64, u64) {
        let start = b * BLOCK;
        (start, (start + BLOCK).min(self.size))
    }

    /// Whether every byte of `[start, end)` is present.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let end = end.min(self.size);
        start >= end || (start / BLOCK..end.div_ceil(BLOCK)).all(|b| self.has(b))
    }

    /// Runs of absent blocks (as `first..end` block numbers) that hold the bytes of
    /// `ranges` not present yet, with small gaps between them joined.
    pub fn missing_runs(&self, ranges: &[(u64, u64)]) -> Vec<std::ops::Range<u64>> {
        let mut needed: Vec<u64> = Vec::new();
        for &(start, end) in ranges {
            let end = end.min(self.size);
            if start >= end {
                continue;
            }
            needed.extend((start / BLOCK..end.div_ceil(BLOCK)).filter(|&b| !self.has(b)));
        }
        needed.sort_unstable();
        needed.dedup();
        let mut runs: Vec<std::ops::Range<u64>> = Vec::new();
        for b in needed {
            match runs.last_mut() {
                // Join across a gap only when every block in it is absent too (so
                // nothing present is fetched again).
                Some(run)
                    if b <= run.end + JOIN_GAP_BLOCKS && (run.end..b).all(|g| !self.has(g)) =>
                {
                    run.end = b + 1
                }
                _ => runs.push(b..b + 1),
            }
        }
        runs
    }

    /// The record on disk: the size, then the bitmap as little-endian words.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.words.len() * 8);
        out.extend_from_slice(&self.size.to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Parses `to_bytes`; None unless it is exactly a record for `size`.
    pub fn from_bytes(bytes: &[u8], size: u64) -> Option<Presence> {
        let (head, rest) = bytes.split_first_chunk::<8>()?;
        if u64::from_le_bytes(*head) != size {
            return None;
        }
        let mut presence = Presence::new(size);
        if rest.len() != presence.words.len() * 8 {
            return None;
        }
        for (w, chunk) in presence.words.iter_mut().zip(rest.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(presence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_ranges_skip_present_and_join_small_gaps() {
        let mut p = Presence::new(100 * BLOCK + 10);
        assert_eq!(p.blocks(), 101);
        assert_eq!(p.missing_runs(&[(10, 20)]), vec![0..1]);
        assert_eq!(p.missing_runs(&[(BLOCK - 1, BLOCK + 1)]), vec![0..2]);
        // A gap of JOIN_GAP_BLOCKS joined, of one more not.
        let (joined, apart) = (JOIN_GAP_BLOCKS + 1, JOIN_GAP_BLOCKS + 2);
        assert_eq!(
            p.missing_runs(&[(0, 1), (joined * BLOCK, joined * BLOCK + 1)]),
            vec![0..joined + 1]
        );
        assert_eq!(
            p.missing_runs(&[(0, 1), (apart * BLOCK, apart * BLOCK + 1)]),
            vec![0..1, apart..apart + 1]
        );
        p.mark(1..3);
        assert!(p.covers(BLOCK, 3 * BLOCK));
        assert!(!p.covers(0, 3 * BLOCK));
        // A present block in the gap is not fetched again.
        assert_eq!(
            p.missing_runs(&[(0, 1), (joined * BLOCK, joined * BLOCK + 1)]),
            vec![0..1, joined..joined + 1]
        );
        assert_eq!(p.missing_runs(&[(BLOCK, 2 * BLOCK)]), vec![]);
        // Clipped to the object; the last block is short.
        assert_eq!(p.missing_runs(&[(100 * BLOCK, u64::MAX)]), vec![100..101]);
        p.mark(100..101);
        assert_eq!(p.present_bytes(), 2 * BLOCK + 10);
        assert_eq!(p.missing_runs(&[(5, 5), (9, 3)]), vec![]);
    }

    #[test]
    fn the_record_round_trips_and_refuses_another_size() {
        let mut p = Presence::new(70 * BLOCK);
        p.mark(3..9);
        p.mark(65..66);
        let bytes = p.to_bytes();
        assert_eq!(Presence::from_bytes(&bytes, 70 * BLOCK), Some(p));
        assert_eq!(Presence::from_bytes(&bytes, 71 * BLOCK), None);
        assert_eq!(
            Presence::from_bytes(&bytes[..bytes.len() - 1], 70 * BLOCK),
            None
        );
        assert_eq!(Presence::from_bytes(&[], 0), None);
    }
}
