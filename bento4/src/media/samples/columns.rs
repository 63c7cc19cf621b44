//! Per-sample columns that take the narrowest width their values allow, widening
//! once (and for good) when a value does not fit.

/// Samples per offset block: 256 consecutive samples of one track span far less
/// than 4 GB of any real file, so a 32-bit distance from the block's base fits.
const BLOCK: usize = 256;

/// Sample sizes: 16 bits each while every size fits (all audio, most video at
/// low bit rates), else 32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizes {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes::Narrow(Vec::new())
    }
}

impl Sizes {
    pub fn len(&self) -> usize {
        match self {
            Sizes::Narrow(all) => all.len(),
            Sizes::Wide(all) => all.len(),
        }
    }

    pub fn get(&self, index: usize) -> Option<u32> {
        match self {
            Sizes::Narrow(all) => all.get(index).map(|&size| u32::from(size)),
            Sizes::Wide(all) => all.get(index).copied(),
        }
    }

    pub fn push(&mut self, size: u32) {
        match self {
            Sizes::Narrow(all) => match u16::try_from(size) {
                Ok(narrow) => all.push(narrow),
                Err(_) => {
                    let mut wide = Vec::with_capacity(all.capacity().max(all.len() + 1));
                    wide.extend(all.iter().map(|&s| u32::from(s)));
                    wide.push(size);
                    *self = Sizes::Wide(wide);
                }
            },
            Sizes::Wide(all) => all.push(size),
        }
    }

    pub fn reserve_exact(&mut self, additional: usize) {
        match self {
            Sizes::Narrow(all) => all.reserve_exact(additional),
            Sizes::Wide(all) => all.reserve_exact(additional),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Sizes::Narrow(all) => all.capacity() * 2,
            Sizes::Wide(all) => all.capacity() * 4,
        }
    }
}

/// Sample offsets: a base per block of samples and a 32-bit distance from it per
/// sample; every offset in full once one goes backwards or jumps 4 GB within a
/// block (never seen in real files, but valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offsets {
    Narrow { bases: Vec<u64>, deltas: Vec<u32> },
    Wide(Vec<u64>),
}

impl Default for Offsets {
    fn default() -> Self {
        Offsets::Narrow {
            bases: Vec::new(),
            deltas: Vec::new(),
        }
    }
}

impl Offsets {
    pub fn get(&self, index: usize) -> Option<u64> {
        match self {
            Offsets::Narrow { bases, deltas } => {
                let base = bases.get(index / BLOCK)?;
                Some(base.saturating_add(u64::from(*deltas.get(index)?)))
            }
            Offsets::Wide(all) => all.get(index).copied(),
        }
    }

    /// Appends the offset of sample number `index` (= the current length).
    pub fn push(&mut self, index: usize, offset: u64) {
        match self {
            Offsets::Narrow { bases, deltas } => {
                if index.is_multiple_of(BLOCK) {
                    bases.push(offset);
                }
                let delta = bases
                    .last()
                    .and_then(|base| offset.checked_sub(*base))
                    .and_then(|delta| u32::try_from(delta).ok());
                if let Some(delta) = delta {
                    deltas.push(delta);
                    return;
                }
            }
            Offsets::Wide(all) => {
                all.push(offset);
                return;
            }
        }
        let mut all: Vec<u64> = (0..index).filter_map(|i| self.get(i)).collect();
        all.push(offset);
        *self = Offsets::Wide(all);
    }

    pub fn reserve(&mut self, additional: usize) {
        match self {
            Offsets::Narrow { bases, deltas } => {
                deltas.reserve_exact(additional);
                bases.reserve_exact(additional / BLOCK + 1);
            }
            Offsets::Wide(all) => all.reserve_exact(additional),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Offsets::Narrow { bases, deltas } => bases.capacity() * 8 + deltas.capacity() * 4,
            Offsets::Wide(all) => all.capacity() * 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_widen_only_when_needed() {
        // (sizes pushed, stays narrow)
        let cases: [(Vec<u32>, bool); 4] = [
            (vec![], true),
            (vec![0, 1, 65535], true),
            (vec![7, 65536, 3], false),
            (vec![u32::MAX], false),
        ];
        for (values, narrow) in cases {
            let mut sizes = Sizes::default();
            sizes.reserve_exact(values.len());
            values.iter().for_each(|&v| sizes.push(v));
            assert_eq!(matches!(sizes, Sizes::Narrow(_)), narrow, "{values:?}");
            assert_eq!(sizes.len(), values.len());
            let back: Vec<Option<u32>> = (0..=values.len()).map(|i| sizes.get(i)).collect();
            let expected: Vec<Option<u32>> =
                values.iter().map(|&v| Some(v)).chain([None]).collect();
            assert_eq!(back, expected, "{values:?}");
        }
    }

    #[test]
    fn offsets_widen_only_when_needed() {
        let forward: Vec<u64> = (0..600).map(|i| 1_000 + i * 5_000).collect();
        let mut backwards = forward.clone();
        backwards[300] = 10;
        let mut far = forward.clone();
        far[520] = 1 << 40;
        let mut next_block_back = forward.clone();
        // A new block may start below the last one: its base is its own first offset.
        next_block_back[256] = 0;
        // (offsets pushed, stays narrow)
        let cases = [
            (vec![], true),
            (forward, true),
            (next_block_back, true),
            (backwards, false),
            (far, false),
            (vec![u64::MAX, 0], false),
        ];
        for (values, narrow) in cases {
            let mut offsets = Offsets::default();
            offsets.reserve(values.len());
            for (index, &value) in values.iter().enumerate() {
                offsets.push(index, value);
            }
            assert_eq!(matches!(offsets, Offsets::Narrow { .. }), narrow);
            let back: Vec<Option<u64>> = (0..=values.len()).map(|i| offsets.get(i)).collect();
            let expected: Vec<Option<u64>> =
                values.iter().map(|&v| Some(v)).chain([None]).collect();
            assert_eq!(back, expected);
        }
    }
}
