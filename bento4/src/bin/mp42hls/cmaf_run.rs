//! One-shot `--cmaf` runs: the plan (with timelines), only the init segment, some
//! segments, or everything (init, segments, then the version 7 playlist last).

use crate::job::{self, output_error, Failure, Muxer};
use crate::output::Outputs;
use crate::write_stdout;
use bento4::cli::mp42hls::{Args, Mode};
use bento4::cmaf::{self, CmafTrack};
use bento4::plan::Plan;
use std::fs::File;
use std::path::Path;

pub fn run(
    args: &Args,
    kind: CmafTrack,
    file: &File,
    plan: &Plan,
    outputs: &mut Outputs,
) -> Result<(), Failure> {
    if args.mode == Mode::Plan {
        return write_stdout(&format!("{}\n", job::cmaf_plan_document(plan)));
    }
    let cbcs = args.cbcs.as_ref().map(|(cbcs, _)| cbcs);
    let init = job::cmaf_init(plan, kind, cbcs)?;
    let indices = match args.mode {
        Mode::Segments(first, last) => job::segment_indices(plan, first, last)?,
        _ => 0..=plan.segments.len().saturating_sub(1),
    };
    if !matches!(args.mode, Mode::Segments(..)) {
        let path = Path::new(&args.init_segment_filename);
        outputs
            .write_file(path, &init)
            .map_err(|e| output_error(path, e))?;
    }
    if args.mode == Mode::Init {
        return Ok(());
    }
    let mut muxer = Muxer::default();
    for index in indices {
        let out = muxer.cmaf_segment(file, plan, index, (kind, cbcs))?;
        let number = plan.segments.get(index).map_or(0, |s| s.number);
        if args.verbose {
            eprintln!("mp42hls: segment {number} ({} bytes)", out.len());
        }
        let path = args.segment_filenames.format(number);
        outputs
            .write_file(Path::new(&path), out)
            .map_err(|e| output_error(Path::new(&path), e))?;
    }
    if args.mode == Mode::Whole {
        let (timescale, times) = cmaf::timeline(plan, kind).unwrap_or((1, Vec::new()));
        let durations: Vec<f64> = times
            .iter()
            .map(|t| t.duration as f64 / f64::from(timescale.max(1)))
            .collect();
        let mut text = cmaf::playlist::media_playlist(
            &durations,
            plan.options.first_segment_number,
            &args.init_segment_filename,
            |n| args.segment_urls.format(n),
        );
        if let Some((_, key_uri)) = &args.cbcs {
            // SAMPLE-AES over fMP4 is cbcs; the key applies from the map on.
            let key = format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"{}\",KEYFORMAT=\"identity\"\n#EXT-X-MAP:",
                key_uri
            );
            text = text.replacen("#EXT-X-MAP:", &key, 1);
        }
        let index = Path::new(&args.index_filename);
        outputs
            .write_file(index, text.as_bytes())
            .map_err(|e| output_error(index, e))?;
    }
    Ok(())
}
