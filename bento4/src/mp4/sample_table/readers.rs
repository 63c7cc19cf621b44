//! Cursors over the `stbl` tables, each giving the next sample's value in decode
//! order straight from the box bytes, so a track is built in one pass without a
//! per-sample copy of any table. Every entry count is checked against its box
//! when the cursor is made; reads after that cannot run past the box.

use super::{check_sample_count, Mp4Error};
use crate::mp4::boxes::Reader;

/// Sample sizes (`stsz`/`stz2`): one constant for all, or the table's bytes.
pub enum Sizes<'a> {
    Constant(u32, usize),
    /// Entries of `bits` (4, 8, 16 or 32) bits each, `count` of them.
    Table {
        data: &'a [u8],
        bits: u8,
        count: usize,
    },
}

impl<'a> Sizes<'a> {
    pub fn parse(body: &'a [u8], compact: bool, file_size: u64) -> Result<Sizes<'a>, Mp4Error> {
        let mut reader = Reader::new(body, if compact { "stz2" } else { "stsz" });
        reader.full_box()?;
        if compact {
            let field_size = reader.u32()? & 0xff;
            let count = reader.u32()?;
            let bits = u64::from(count) * u64::from(field_size);
            let count = check_sample_count(u64::from(count), file_size, "stz2")?;
            let bits_per_entry = match field_size {
                4 => 4,
                8 => 8,
                16 => 16,
                _ => {
                    return Err(Mp4Error::Corrupt(format!(
                        "stz2: field size {field_size} is not 4, 8 or 16"
                    )))
                }
            };
            let len = usize::try_from(bits.div_ceil(8)).map_err(|_| reader.truncated(bits))?;
            let data = reader.bytes(len)?;
            return Ok(Sizes::Table {
                data,
                bits: bits_per_entry,
                count,
            });
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
        let data = reader.bytes(count * 4)?;
        Ok(Sizes::Table {
            data,
            bits: 32,
            count,
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Sizes::Constant(_, count) | Sizes::Table { count, .. } => *count,
        }
    }

    pub fn get(&self, index: usize) -> u32 {
        let Sizes::Table { data, bits, .. } = self else {
            return match self {
                Sizes::Constant(size, _) => *size,
                Sizes::Table { .. } => 0,
            };
        };
        let byte = |at: usize| data.get(at).copied().unwrap_or(0);
        match bits {
            4 => {
                let packed = byte(index / 2);
                u32::from(if index.is_multiple_of(2) {
                    packed >> 4
                } else {
                    packed & 0x0f
                })
            }
            8 => u32::from(byte(index)),
            16 => {
                let at = index.saturating_mul(2);
                u32::from(u16::from_be_bytes([byte(at), byte(at.saturating_add(1))]))
            }
            _ => {
                let at = index.saturating_mul(4);
                let mut word = [0u8; 4];
                if let Some(bytes) = data.get(at..at.saturating_add(4)) {
                    word.copy_from_slice(bytes);
                }
                u32::from_be_bytes(word)
            }
        }
    }
}

/// Decode times and durations from `stts` runs.
pub struct DecodeTimes<'a> {
    reader: Reader<'a>,
    entries_left: usize,
    left_in_run: u32,
    delta: u32,
    next_dts: u64,
}

impl<'a> DecodeTimes<'a> {
    /// Fails when the table does not cover `count` samples.
    pub fn new(body: &'a [u8], count: usize) -> Result<DecodeTimes<'a>, Mp4Error> {
        let mut reader = Reader::new(body, "stts");
        reader.full_box()?;
        let entries = reader.u32()?;
        let entries = reader.check_count(u64::from(entries), 8)?;
        let mut scan = reader.clone();
        let mut covered = 0usize;
        for _ in 0..entries {
            covered = covered.saturating_add(scan.u32()? as usize);
            scan.u32()?;
        }
        if covered < count {
            return Err(Mp4Error::Corrupt(format!(
                "stts covers {covered} of {count} samples"
            )));
        }
        Ok(DecodeTimes {
            reader,
            entries_left: entries,
            left_in_run: 0,
            delta: 0,
            next_dts: 0,
        })
    }

    /// (decode time, duration) of the next sample.
    pub fn next_sample(&mut self) -> Result<(u64, u32), Mp4Error> {
        while self.left_in_run == 0 {
            if self.entries_left == 0 {
                return Err(Mp4Error::Corrupt("stts ends before the samples".into()));
            }
            self.entries_left -= 1;
            self.left_in_run = self.reader.u32()?;
            self.delta = self.reader.u32()?;
        }
        self.left_in_run -= 1;
        let dts = self.next_dts;
        self.next_dts = dts
            .checked_add(u64::from(self.delta))
            .ok_or_else(|| Mp4Error::Corrupt("stts: decode time overflows".into()))?;
        Ok((dts, self.delta))
    }
}

/// Composition offsets from `ctts` runs; 0 for samples past the table.
pub struct CompositionOffsets<'a> {
    reader: Reader<'a>,
    entries_left: usize,
    left_in_run: u32,
    offset: i32,
}

impl<'a> CompositionOffsets<'a> {
    pub fn new(body: Option<&'a [u8]>) -> Result<CompositionOffsets<'a>, Mp4Error> {
        let mut reader = Reader::new(body.unwrap_or(&[]), "ctts");
        let mut entries_left = 0;
        if body.is_some() {
            reader.full_box()?;
            let entries = reader.u32()?;
            entries_left = reader.check_count(u64::from(entries), 8)?;
        }
        Ok(CompositionOffsets {
            reader,
            entries_left,
            left_in_run: 0,
            offset: 0,
        })
    }

    pub fn next_sample(&mut self) -> Result<i32, Mp4Error> {
        while self.left_in_run == 0 {
            if self.entries_left == 0 {
                return Ok(0);
            }
            self.entries_left -= 1;
            self.left_in_run = self.reader.u32()?;
            // Version 0 offsets are unsigned in the spec, but muxers write negative
            // ones there too; read as signed like every player does.
            self.offset = self.reader.i32()?;
        }
        self.left_in_run -= 1;
        Ok(self.offset)
    }
}

/// Sync flags: every sample without `stss`, else one bit per listed sample
/// (the numbers need not be sorted, so they are gathered first).
pub fn sync_bits(stss: Option<&[u8]>, count: usize) -> Result<Option<Vec<u64>>, Mp4Error> {
    let Some(body) = stss else {
        return Ok(None);
    };
    let mut reader = Reader::new(body, "stss");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 4)?;
    let mut bits = vec![0u64; count.div_ceil(64)];
    for _ in 0..entries {
        let number = reader.u32()? as usize;
        if let Some(index) = number.checked_sub(1).filter(|&i| i < count) {
            if let Some(word) = bits.get_mut(index / 64) {
                *word |= 1 << (index % 64);
            }
        }
    }
    Ok(Some(bits))
}

/// Absolute sample offsets: chunks from `stco`/`co64`, samples per chunk from `stsc`.
pub struct Placement<'a> {
    chunks: Reader<'a>,
    wide: bool,
    chunks_left: usize,
    chunk_number: u64,
    /// (first_chunk, samples_per_chunk) of each `stsc` entry.
    runs: Vec<(u32, u32)>,
    run_index: usize,
    left_in_chunk: u32,
    next_offset: u64,
    placed: usize,
}

impl<'a> Placement<'a> {
    pub fn new(offsets: &'a [u8], wide: bool, stsc: &[u8]) -> Result<Placement<'a>, Mp4Error> {
        let mut chunks = Reader::new(offsets, if wide { "co64" } else { "stco" });
        chunks.full_box()?;
        let entries = chunks.u32()?;
        let chunks_left = chunks.check_count(u64::from(entries), if wide { 8 } else { 4 })?;
        Ok(Placement {
            chunks,
            wide,
            chunks_left,
            chunk_number: 0,
            runs: parse_stsc(stsc)?,
            run_index: 0,
            left_in_chunk: 0,
            next_offset: 0,
            placed: 0,
        })
    }

    /// Offset of the next sample, which is `size` bytes long; `count` is the track's
    /// sample count (for the error when the chunks run out).
    pub fn next_sample(&mut self, size: u32, count: usize) -> Result<u64, Mp4Error> {
        while self.left_in_chunk == 0 {
            if self.chunks_left == 0 {
                return Err(Mp4Error::Corrupt(format!(
                    "stsc/stco place {} of {count} samples",
                    self.placed
                )));
            }
            self.chunks_left -= 1;
            self.chunk_number += 1;
            self.next_offset = if self.wide {
                self.chunks.u64()?
            } else {
                u64::from(self.chunks.u32()?)
            };
            while self
                .runs
                .get(self.run_index + 1)
                .is_some_and(|&(first, _)| u64::from(first) <= self.chunk_number)
            {
                self.run_index += 1;
            }
            self.left_in_chunk = self.runs.get(self.run_index).map_or(0, |&(_, n)| n);
        }
        self.left_in_chunk -= 1;
        self.placed += 1;
        let offset = self.next_offset;
        self.next_offset = offset
            .checked_add(u64::from(size))
            .ok_or_else(|| Mp4Error::Corrupt("chunk offsets overflow".into()))?;
        Ok(offset)
    }
}

fn parse_stsc(stsc: &[u8]) -> Result<Vec<(u32, u32)>, Mp4Error> {
    let mut reader = Reader::new(stsc, "stsc");
    reader.full_box()?;
    let entries = reader.u32()?;
    let entries = reader.check_count(u64::from(entries), 12)?;
    let mut runs: Vec<(u32, u32)> = Vec::with_capacity(entries);
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
    Ok(runs)
}
