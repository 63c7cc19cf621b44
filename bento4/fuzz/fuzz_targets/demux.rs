//! The whole demuxer on arbitrary bytes as a file, then `mp4info`'s renderers on
//! whatever it accepted. Errors are fine; panics, hangs and huge allocations are not.
#![no_main]

use bento4::info::{render, Format, Options};
use bento4::mp4::{codecs_string, parse_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_file(data) else { return };
    let mut sample_bytes = |sample: &bento4::media::Sample| {
        let start = usize::try_from(sample.offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(sample.size as usize);
        Ok(data.get(start..end).unwrap_or_default().to_vec())
    };
    for format in [Format::Json, Format::Text] {
        let options = Options {
            format,
            verbose: true,
            show_layout: true,
            show_samples: true,
            show_sample_data: true,
        };
        let _ = render(&parsed.movie, &parsed.details, &options, &mut sample_bytes);
    }
    for track in &parsed.movie.tracks {
        let _ = codecs_string(&track.codec);
        // Every accepted sample lies inside the input.
        for sample in &track.samples {
            assert!(sample.offset + u64::from(sample.size) <= data.len() as u64);
        }
    }
});
