//! The one place in the crate that reads input files: positioned reads (pread) of
//! box headers, the index boxes and, on demand, single samples. `mdat` is never
//! read when opening, so memory holds only the index.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::Mp4Error;
use crate::media::{Movie, Sample};
use crate::mp4::{load_movie, EntryDetails};

pub struct Mp4Source {
    file: File,
    movie: Movie,
    details: Vec<EntryDetails>,
}

impl Mp4Source {
    /// Opens the file, walks top-level boxes by their headers, reads `moov` (and each
    /// `moof`), parses them into a [`Movie`], and checks that every sample's bytes lie
    /// inside the file, so a truncated `mdat` fails here, before any output.
    pub fn open(path: &Path) -> Result<Mp4Source, Mp4Error> {
        let file =
            File::open(path).map_err(|e| Mp4Error::Io(format!("{}: {e}", path.display())))?;
        Mp4Source::from_file(file, &path.display().to_string())
    }

    /// [`Mp4Source::open`] on a file already open (a descriptor another process
    /// opened and handed over); `label` names it in error messages only.
    pub fn from_file(file: File, label: &str) -> Result<Mp4Source, Mp4Error> {
        let metadata = file
            .metadata()
            .map_err(|e| Mp4Error::Io(format!("{label}: {e}")))?;
        if metadata.is_dir() {
            return Err(Mp4Error::Io(format!("{label}: is a directory")));
        }
        let mut read_at = |offset: u64, buf: &mut [u8]| {
            file.read_exact_at(buf, offset).map_err(|e| {
                Mp4Error::from_read(
                    format!("{label}: reading {} bytes at {offset}", buf.len()),
                    &e,
                )
            })
        };
        let parsed = load_movie(metadata.len(), &mut read_at)?;
        Ok(Mp4Source {
            file,
            movie: parsed.movie,
            details: parsed.details,
        })
    }

    /// The file and the movie, apart (the movie outlives the file in `--serve`).
    pub fn into_parts(self) -> (File, Movie) {
        (self.file, self.movie)
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn movie(&self) -> &Movie {
        &self.movie
    }

    /// Sample-entry facts beyond the media model, one per track (for `mp4info`).
    pub fn details(&self) -> &[EntryDetails] {
        &self.details
    }

    /// Reads one sample's bytes into `buf` (cleared first).
    pub fn read_sample(&self, sample: &Sample, buf: &mut Vec<u8>) -> Result<(), Mp4Error> {
        read_sample(&self.file, sample, buf)
    }
}

/// Reads one sample's bytes from `file` into `buf` (cleared first).
pub fn read_sample(file: &File, sample: &Sample, buf: &mut Vec<u8>) -> Result<(), Mp4Error> {
    buf.clear();
    buf.resize(sample.size as usize, 0);
    file.read_exact_at(buf, sample.offset).map_err(|e| {
        Mp4Error::from_read(
            format!("reading {} bytes at {}", sample.size, sample.offset),
            &e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Track, TrackKind};
    use std::path::PathBuf;

    fn media(name: &str) -> PathBuf {
        let dir = std::env::var_os("CASTERPAK_TEST_MEDIA")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/media"));
        let path = dir.join(name);
        assert!(path.is_file(), "test media missing: {}", path.display());
        path
    }

    fn open(name: &str) -> Result<Mp4Source, Mp4Error> {
        Mp4Source::open(&media(name))
    }

    #[test]
    fn reads_the_reference_movie() {
        let source = open("a_720p_60s.mp4").expect("opens");
        let movie = source.movie();
        assert_eq!(movie.tracks.len(), 2);
        let video = &movie.tracks[0];
        assert_eq!(video.kind, TrackKind::Video);
        assert_eq!(video.samples.len(), 1440);
        assert_eq!(video.edit.media_start, 1024);
        let first = video.samples.first().expect("has samples");
        assert!(first.sync);
        let audio = &movie.tracks[1];
        assert_eq!(audio.samples.len(), 2814);
        // The first video sample is an Annex-less AVC access unit: a 4-byte NAL length
        // that fits the sample.
        let mut buf = Vec::new();
        source.read_sample(&first, &mut buf).expect("reads");
        assert_eq!(buf.len(), first.size as usize);
        let first_nal = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        assert!(first_nal + 4 <= buf.len());
    }

    #[test]
    fn sample_tables_stay_compact() {
        // Video: sizes past 64 KB (32 bits), offsets (32), B-frame composition offsets
        // (32); audio: 16-bit sizes and offsets only. A `Sample` itself is 32 bytes.
        let source = open("a_720p_60s.mp4").expect("opens");
        let bytes_per_sample =
            |track: &Track| track.samples.heap_bytes() as f64 / track.samples.len().max(1) as f64;
        let tracks = &source.movie().tracks;
        assert!(
            bytes_per_sample(&tracks[0]) < 12.5,
            "{}",
            bytes_per_sample(&tracks[0])
        );
        assert!(
            bytes_per_sample(&tracks[1]) < 6.5,
            "{}",
            bytes_per_sample(&tracks[1])
        );
    }

    #[test]
    fn fragmented_matches_the_progressive_file() {
        let plain = open("a_720p_60s.mp4").expect("opens");
        let fragmented = open("fragmented.mp4").expect("opens");
        assert!(fragmented.movie().fragmented);
        let (plain, fragmented) = (&plain.movie().tracks, &fragmented.movie().tracks);
        assert_eq!(plain.len(), 2);
        assert_eq!(fragmented.len(), 2);
        // Video: ffmpeg copied every sample with its timing.
        let timing = |s: Sample| (s.size, s.dts, s.cts_offset, s.sync, s.duration);
        let video = |track: &Track| track.samples.iter().map(timing).collect::<Vec<_>>();
        assert_eq!(video(&plain[0]), video(&fragmented[0]));
        // Audio: same sizes and sync; but when ffmpeg fragmented the file it dropped
        // the edit list and wrote the priming frame with a 4000-tick duration (and
        // the last one with 1024 instead of 512): ffprobe shows the same, so only the
        // samples in between keep their durations.
        let list = |track: &Track| track.samples.iter().collect::<Vec<Sample>>();
        let (a, b) = (list(&plain[1]), list(&fragmented[1]));
        assert_eq!(a.len(), b.len());
        let shape = |s: &Sample| (s.size, s.sync, s.cts_offset);
        assert!(a.iter().map(shape).eq(b.iter().map(shape)));
        assert_eq!((b[0].duration, b[1].dts), (4000, 4000));
        let middle = 1..a.len() - 1;
        assert!(a[middle.clone()]
            .iter()
            .zip(&b[middle])
            .all(|(x, y)| x.duration == y.duration && x.dts + 2976 == y.dts));
    }

    #[test]
    fn broken_files_fail_cleanly() {
        let cases = [
            ("empty.mp4", "empty"),
            ("garbage.mp4", "not an MP4"),
            ("truncated.mp4", "no 'moov'"),
            ("truncated_faststart.mp4", "mdat truncated"),
        ];
        for (name, needle) in cases {
            match open(name) {
                Ok(_) => panic!("{name} opened"),
                Err(error) => {
                    assert_eq!(error.exit_code(), 2, "{name}");
                    assert!(error.to_string().contains(needle), "{name}: {error}");
                }
            }
        }
        assert!(matches!(
            Mp4Source::open(Path::new("/nonexistent/x.mp4")),
            Err(Mp4Error::Io(_))
        ));
    }
}
