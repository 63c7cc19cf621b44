//! The sample table of a non-fragmented track (`stbl`, ISO/IEC 14496-12 §8.6-8.7):
//! stts, ctts, stss, stsc, stsz/stz2 and stco/co64 combined into one [`Sample`]
//! per entry, in decode order, with absolute file offsets.

use crate::error::Mp4Error;
use crate::media::Sample;
use crate::mp4::boxes::{children, Reader};

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

/// Builds the samples of one track from its `stbl` body.
pub fn build_samples(stbl: &[u8], file_size: u64) -> Result<Vec<Sample>, Mp4Error> {
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
    let sizes = parse_sizes(sizes_body, compact, file_size)?;
    let count = sizes.len();
    let mut samples = Vec::with_capacity(count);
    if count == 0 {
        return Ok(samples);
    }
    for index in 0..count {
        samples.push(Sample {
            offset: 0,
            size: sizes.get(index),
            dts: 0,
            cts_offset: 0,
            sync: tables.stss.is_none(),
            duration: 0,
        });
    }
    apply_stts(tables.stts.ok_or_else(|| missing("stts"))?, &mut samples)?;
    if let Some(ctts) = tables.ctts {
        apply_ctts(ctts, &mut samples)?;
    }
    if let Some(stss) = tables.stss {
        apply_stss(stss, &mut samples)?;
    }
    let (offsets_body, wide) = tables.offsets.ok_or_else(|| missing("stco"))?;
    let chunk_offsets = parse_chunk_offsets(offsets_body, wide)?;
    apply_chunks(
        tables.stsc.ok_or_else(|| missing("stsc"))?,
        &chunk_offsets,
        &mut samples,
    )?;
    Ok(samples)
}

/// Sample sizes: one constant for all, or a table.
enum Sizes {
    Constant(u32, usize),
    Table(Vec<u32>),
}

impl Sizes {
    fn len(&self) -> usize {
        match self {
            Sizes::Constant(_, count) => *count,
            Sizes::Table(table) => table.len(),
        }
    }
    fn get(&self, index: usize) -> u32 {
        match self {
            Sizes::Constant(size, _) => *size,
            Sizes::Table(table) => table.get(index).copied().unwrap_or(0),
        }
    }
}

fn parse_sizes(body: &[u8], compact: bool, file_size: u64) -> Result<Sizes, Mp4Error> {
    let mut reader = Reader::new(body, if compact { "stz2" } else { "stsz" });
    reader.full_box()?;
    if compact {
        let field_size = reader.u32()? & 0xff;
        let count = reader.u32()?;
        let bits = u64::from(count) * u64::from(field_size);
        let count = check_sample_count(u64::from(count), file_size, "stz2")?;
        if !matches!(field_size, 4 | 8 | 16) {
            return Err(Mp4Error::Corrupt(format!(
                "stz2: field size {field_size} is not 4, 8 or 16"
            )));
        }
        let data =
            reader.bytes(usize::try_from(bits.div_ceil(8)).map_err(|_| reader.truncated(bits))?)?;
        let mut table = Vec::with_capacity(count);
        for index in 0..count {
            let value = match field_size {
                4 => {
                    let byte = data.get(index / 2).copied().unwrap_or(0);
                    if index % 2 == 0 {
                        byte >> 4
                    } else {
                        byte & 0x0f
                    }
                    .into()
                }
                8 => data.get(index).copied().unwrap_or(0).into(),
                _ => {
                    let hi = data.get(index * 2).copied().unwrap_or(0);
                    let lo = data.get(index * 2 + 1).copied().unwrap_or(0);
                    u16::from_be_bytes([hi, lo]).into()
                }
            };
            table.push(value);
        }
        return Ok(Sizes::Table(table));
    }
    let constant = reader.u32()?;
    let count = reader.u32()?;
    if constant != 0 {
        let count = check_sample_count(u64::from(count), file_size, "stsz")?;
        if u64::from(constant) * count as u64 > file_size {
            return Err(Mp4Error::Corrupt(format!(
                "stsz: {count} samples of {constant} bytes cannot fit in a {file_size}-byte file"
            )));
        }
        return Ok(Sizes::Constant(constant, count));
    }
    let count = reader.check_count(u64::from(count), 4)?;
    check_sample_count(count as u64, file_size, "stsz")?;
    let mut table = Vec::with_capacity(count);
    for _ in 0..count {
        table.push(reader.u32()?);
    }
    Ok(Sizes::Table(table))
}

fn apply_stts(body: &[u8], samples: &mut [Sample]) -> Result<(), Mp4Error> {
    let mut reader = Reader::new(body, "stts");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 8)?;
    let mut index = 0usize;
    let mut dts = 0u64;
    for _ in 0..entries {
        let run = reader.u32()? as usize;
        let delta = reader.u32()?;
        for sample in samples.iter_mut().skip(index).take(run) {
            sample.dts = dts;
            sample.duration = delta;
            dts = dts
                .checked_add(u64::from(delta))
                .ok_or_else(|| Mp4Error::Corrupt("stts: decode time overflows".into()))?;
        }
        index = index.saturating_add(run);
    }
    if index < samples.len() {
        return Err(Mp4Error::Corrupt(format!(
            "stts covers {index} of {} samples",
            samples.len()
        )));
    }
    Ok(())
}

fn apply_ctts(body: &[u8], samples: &mut [Sample]) -> Result<(), Mp4Error> {
    let mut reader = Reader::new(body, "ctts");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 8)?;
    let mut index = 0usize;
    for _ in 0..entries {
        let run = reader.u32()? as usize;
        // Version 0 offsets are unsigned in the spec, but muxers write negative
        // ones there too; read as signed like every player does.
        let offset = reader.i32()?;
        for sample in samples.iter_mut().skip(index).take(run) {
            sample.cts_offset = offset;
        }
        index = index.saturating_add(run);
    }
    Ok(())
}

fn apply_stss(body: &[u8], samples: &mut [Sample]) -> Result<(), Mp4Error> {
    let mut reader = Reader::new(body, "stss");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 4)?;
    for _ in 0..entries {
        let number = reader.u32()? as usize;
        if let Some(sample) = number
            .checked_sub(1)
            .and_then(|index| samples.get_mut(index))
        {
            sample.sync = true;
        }
    }
    Ok(())
}

fn parse_chunk_offsets(body: &[u8], wide: bool) -> Result<Vec<u64>, Mp4Error> {
    let mut reader = Reader::new(body, if wide { "co64" } else { "stco" });
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), if wide { 8 } else { 4 })?;
    let mut offsets = Vec::with_capacity(entries);
    for _ in 0..entries {
        offsets.push(if wide {
            reader.u64()?
        } else {
            u64::from(reader.u32()?)
        });
    }
    Ok(offsets)
}

/// Walks chunks with their stsc run, giving each sample its absolute offset.
fn apply_chunks(
    stsc: &[u8],
    chunk_offsets: &[u64],
    samples: &mut [Sample],
) -> Result<(), Mp4Error> {
    let mut reader = Reader::new(stsc, "stsc");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 12)?;
    let mut runs = Vec::with_capacity(entries);
    for _ in 0..entries {
        let first_chunk = reader.u32()?;
        let per_chunk = reader.u32()?;
        reader.u32()?; // sample_description_index
        if first_chunk == 0
            || runs
                .last()
                .is_some_and(|&(previous, _)| first_chunk <= previous)
        {
            return Err(Mp4Error::Corrupt(format!(
                "stsc: first_chunk {first_chunk} out of order"
            )));
        }
        runs.push((first_chunk, per_chunk));
    }
    let mut sample_index = 0usize;
    let mut run_index = 0usize;
    for (chunk_index, &chunk_offset) in chunk_offsets.iter().enumerate() {
        let chunk_number = chunk_index as u64 + 1;
        while runs
            .get(run_index + 1)
            .is_some_and(|&(first, _)| u64::from(first) <= chunk_number)
        {
            run_index += 1;
        }
        let per_chunk = runs.get(run_index).map_or(0, |&(_, per_chunk)| per_chunk);
        let mut offset = chunk_offset;
        for sample in samples
            .iter_mut()
            .skip(sample_index)
            .take(per_chunk as usize)
        {
            sample.offset = offset;
            offset = offset
                .checked_add(u64::from(sample.size))
                .ok_or_else(|| Mp4Error::Corrupt("chunk offsets overflow".into()))?;
        }
        sample_index = sample_index.saturating_add(per_chunk as usize);
        if sample_index >= samples.len() {
            return Ok(());
        }
    }
    Err(Mp4Error::Corrupt(format!(
        "stsc/stco place {} of {} samples",
        sample_index,
        samples.len()
    )))
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
            assert_eq!(got.clone().map_err(|_| ()), expected, "{name}: {got:?}");
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
