//! The sample table of a non-fragmented track (`stbl`, ISO/IEC 14496-12 §8.6-8.7):
//! stts, ctts, stss, stsc, stsz/stz2 and stco/co64 combined into one [`Sample`]
//! per entry, in decode order, with absolute file offsets, held in a [`SampleTable`].

mod readers;

use crate::error::Mp4Error;
use crate::media::{Sample, SampleTable};
use crate::mp4::boxes::children;
use readers::{sync_bits, CompositionOffsets, DecodeTimes, Placement, Sizes};

/// Upper bound on samples per track: far above any real title (10 h at 240 fps),
/// it keeps a hostile count from reserving gigabytes.
pub const MAX_SAMPLES_PER_TRACK: u64 = 1 << 24;

/// Every sample owns at least one byte of the file (or of its index), so a count
/// larger than the file is a lie; checked before anything is allocated from it.
pub fn check_sample_count(count: u64, file_size: u64, what: &str) -> Result<usize, Mp4Error> {
    if count > MAX_SAMPLES_PER_TRACK || count > file_size {
        return Err(Mp4Error::Corrupt(format!(
            "{what}: {count} samples cannot fit in a {file_size}-byte file"
        )));
    }
    usize::try_from(count)
        .map_err(|_| Mp4Error::Corrupt(format!("{what}: sample count {count} too large")))
}

/// The `stbl` boxes a sample table is built from.
#[derive(Default)]
struct Tables<'a> {
    stts: Option<&'a [u8]>,
    ctts: Option<&'a [u8]>,
    stss: Option<&'a [u8]>,
    stsc: Option<&'a [u8]>,
    sizes: Option<(&'a [u8], bool)>,
    offsets: Option<(&'a [u8], bool)>,
}

fn missing(name: &str) -> Mp4Error {
    Mp4Error::Corrupt(format!("'{name}' box missing in 'stbl'"))
}

/// Builds the samples of one track from its `stbl` body, in one pass over the tables.
pub fn build_samples(stbl: &[u8], file_size: u64) -> Result<SampleTable, Mp4Error> {
    let mut tables = Tables::default();
    for child in children(stbl) {
        let child = child?;
        match &child.fourcc {
            b"stts" => tables.stts = Some(child.body),
            b"ctts" => tables.ctts = Some(child.body),
            b"stss" => tables.stss = Some(child.body),
            b"stsc" => tables.stsc = Some(child.body),
            b"stsz" => tables.sizes = Some((child.body, false)),
            b"stz2" => tables.sizes = Some((child.body, true)),
            b"stco" => tables.offsets = Some((child.body, false)),
            b"co64" => tables.offsets = Some((child.body, true)),
            _ => {}
        }
    }
    let (sizes_body, compact) = tables.sizes.ok_or_else(|| missing("stsz"))?;
    let sizes = Sizes::parse(sizes_body, compact, file_size)?;
    let count = sizes.len();
    if count == 0 {
        return Ok(SampleTable::new());
    }
    let mut times = DecodeTimes::new(tables.stts.ok_or_else(|| missing("stts"))?, count)?;
    let mut cts_offsets = CompositionOffsets::new(tables.ctts)?;
    let sync = sync_bits(tables.stss, count)?;
    let (offsets_body, wide) = tables.offsets.ok_or_else(|| missing("stco"))?;
    let mut placement = Placement::new(
        offsets_body,
        wide,
        tables.stsc.ok_or_else(|| missing("stsc"))?,
    )?;
    let mut samples = SampleTable::with_capacity(count);
    for index in 0..count {
        let size = sizes.get(index);
        let (dts, duration) = times.next_sample()?;
        samples.push(Sample {
            offset: placement.next_sample(size, count)?,
            size,
            dts,
            cts_offset: cts_offsets.next_sample()?,
            sync: sync.as_ref().is_none_or(|bits| {
                bits.get(index / 64)
                    .is_some_and(|word| word & (1 << (index % 64)) != 0)
            }),
            duration,
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::test_boxes::boxed;

    fn full(fourcc: &[u8; 4], words: &[u32]) -> Vec<u8> {
        let body: Vec<u8> = [0u32]
            .iter()
            .chain(words)
            .flat_map(|w| w.to_be_bytes())
            .collect();
        boxed(fourcc, &body)
    }

    /// Three samples of 10, 20, 30 bytes in two chunks at 1000 and 2000; the second is a keyframe.
    fn table(overrides: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let defaults = [
            (b"stts", full(b"stts", &[2, 2, 100, 1, 50])),
            (b"ctts", full(b"ctts", &[1, 3, 200])),
            (b"stss", full(b"stss", &[2, 1, 2])),
            (b"stsc", full(b"stsc", &[2, 1, 2, 1, 2, 1, 1])),
            (b"stsz", full(b"stsz", &[0, 3, 10, 20, 30])),
            (b"stco", full(b"stco", &[2, 1000, 2000])),
        ];
        defaults
            .into_iter()
            .map(|(name, bytes)| {
                overrides
                    .iter()
                    .find(|(fourcc, _)| *fourcc == name)
                    .map_or(bytes, |(_, replacement)| replacement.clone())
            })
            .collect::<Vec<_>>()
            .concat()
    }

    fn sample(offset: u64, size: u32, dts: u64, sync: bool, duration: u32) -> Sample {
        Sample {
            offset,
            size,
            dts,
            cts_offset: 200,
            sync,
            duration,
        }
    }

    #[test]
    fn sample_tables() {
        let good = vec![
            sample(1000, 10, 0, true, 100),
            sample(1010, 20, 100, true, 100),
            sample(2000, 30, 200, false, 50),
        ];
        let mut no_stss = good.clone();
        no_stss.iter_mut().for_each(|s| s.sync = true);
        let mut constant = good.clone();
        constant.iter_mut().for_each(|s| s.size = 7);
        constant[1].offset = 1007;
        let mut wide = good.clone();
        wide[2].offset = 1 << 33;
        let mut compact = good.clone();
        compact[0].size = 1;
        compact[1].size = 15;
        compact[1].offset = 1001;
        compact[2].size = 2;
        let co64 = boxed(
            b"co64",
            &[
                vec![0, 0, 0, 0, 0, 0, 0, 2],
                1000u64.to_be_bytes().to_vec(),
                (1u64 << 33).to_be_bytes().to_vec(),
            ]
            .concat(),
        );
        let stz2 = boxed(b"stz2", &[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 0x1f, 0x20]);
        let none: &[(&[u8; 4], Vec<u8>)] = &[];
        type Case = (&'static str, Vec<u8>, Result<Vec<Sample>, ()>);
        let cases: Vec<Case> = vec![
            ("good", table(none), Ok(good.clone())),
            (
                "no stss: all sync",
                table(&[(b"stss", vec![])]),
                Ok(no_stss),
            ),
            (
                "constant size",
                table(&[(b"stsz", full(b"stsz", &[7, 3]))]),
                Ok(constant),
            ),
            ("co64", table(&[(b"stco", co64)]), Ok(wide)),
            ("stz2 4-bit", table(&[(b"stsz", stz2)]), Ok(compact)),
            (
                "huge stsz count",
                table(&[(b"stsz", full(b"stsz", &[0, u32::MAX, 1]))]),
                Err(()),
            ),
            (
                "huge constant-size count",
                table(&[(b"stsz", full(b"stsz", &[1, u32::MAX]))]),
                Err(()),
            ),
            (
                "huge stts count",
                table(&[(b"stts", full(b"stts", &[u32::MAX, 1, 1]))]),
                Err(()),
            ),
            (
                "huge stco count",
                table(&[(b"stco", full(b"stco", &[u32::MAX, 1]))]),
                Err(()),
            ),
            (
                "stts too short",
                table(&[(b"stts", full(b"stts", &[1, 2, 100]))]),
                Err(()),
            ),
            (
                "too few chunks",
                table(&[(b"stco", full(b"stco", &[1, 1000]))]),
                Err(()),
            ),
            (
                "stsc out of order",
                table(&[(b"stsc", full(b"stsc", &[2, 2, 2, 1, 1, 1, 1]))]),
                Err(()),
            ),
            (
                "stsc chunk 0",
                table(&[(b"stsc", full(b"stsc", &[1, 0, 3, 1]))]),
                Err(()),
            ),
            ("missing stsz", table(&[(b"stsz", vec![])]), Err(())),
            ("missing stco", table(&[(b"stco", vec![])]), Err(())),
            (
                "stts entry past its box",
                table(&[(b"stts", full(b"stts", &[2, 1, 100]))]),
                Err(()),
            ),
            (
                "child past stbl",
                [table(none), vec![0, 0, 1, 0, b's', b't', b't', b's']].concat(),
                Err(()),
            ),
        ];
        for (name, stbl, expected) in cases {
            let got = build_samples(&stbl, 1 << 34);
            let listed = got.as_ref().map(|t| t.iter().collect::<Vec<_>>());
            assert_eq!(listed.map_err(|_| ()), expected, "{name}: {got:?}");
        }
    }

    #[test]
    fn counts_are_bounded_by_the_file() {
        assert!(check_sample_count(10, 9, "t").is_err());
        assert!(check_sample_count(MAX_SAMPLES_PER_TRACK + 1, u64::MAX, "t").is_err());
        assert_eq!(check_sample_count(9, 9, "t").ok(), Some(9));
        // A table the file is too small for is refused before allocation.
        assert!(build_samples(&table(&[]), 2).is_err());
    }
}
