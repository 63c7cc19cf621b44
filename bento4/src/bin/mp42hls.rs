//! `mp42hls`: MP4 to HLS (MPEG-TS segments and playlists), Bento4's interface plus
//! casterpak's extensions: one-shot runs here, `--serve` in `serve`, and what both
//! share (planning, muxing a segment) in `job`. All I/O lives in this binary; the
//! plan, the muxer, the playlists and the serve job format are pure library code.

#[path = "mp42hls/cmaf_run.rs"]
mod cmaf_run;
#[path = "mp42hls/job.rs"]
mod job;
#[path = "mp42hls/output.rs"]
mod output;
#[path = "mp42hls/sample_reader.rs"]
mod sample_reader;
#[path = "mp42hls/serve.rs"]
mod serve;
#[path = "mp42hls/serve_input.rs"]
mod serve_input;

use bento4::cli::mp42hls::{self as cli, Args, Command, Encryption, IvMode, Mode};
use bento4::hls::{self, KeyLine, PlaylistOptions, Template};
use bento4::mux::SegmentWriter;
use bento4::plan::Plan;
use bento4::source::Mp4Source;
use job::{codec_names, output_error, size_on_disk, Failure, Key, Muxer};
use output::Outputs;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// Writes to stdout without `print!`'s panic when the reader went away (`| head`):
/// a closed pipe is an output error like any other, exit 4 with one line.
pub(crate) fn write_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure(4, format!("writing to standard output: {e}")))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match cli::parse(&args) {
        Ok(Command::Help) => write_stdout(cli::USAGE),
        Ok(Command::Capabilities) => write_stdout(&format!("{}\n", cli::CAPABILITIES)),
        Ok(Command::Run(args)) => run(&args),
        Ok(Command::Serve(options)) => serve::serve(options),
        Err(error) => {
            // The reason first, on one line; the usage text after it where it helps.
            eprintln!("mp42hls: {}", error.reason);
            if error.show_usage {
                eprint!("{}", cli::USAGE);
            }
            return ExitCode::from(1);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, reason)) => {
            eprintln!("mp42hls: {}", bento4::cli::serve::one_line(&reason));
            ExitCode::from(code)
        }
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let (file, movie) = Mp4Source::open(&args.input)?.into_parts();
    // Text alone: no plan (the title may have no track we mux).
    if let Mode::WebVtt(track_id) = args.mode {
        return write_stdout(&job::webvtt_document(&movie, &file, track_id)?);
    }
    if args.mode == Mode::Captions {
        return write_stdout(&format!("{}\n", job::captions_document(&movie, &file)?));
    }
    let plan = job::build_plan(&movie, &file, &args.plan)?;
    if let Some(kind) = args.cmaf {
        let mut outputs = Outputs::default();
        let result = cmaf_run::run(args, kind, &file, &plan, &mut outputs);
        if result.is_err() {
            outputs.remove_all();
        }
        return result;
    }
    match args.mode {
        Mode::Init => Err(Failure(1, "--init-segment needs --cmaf".into())),
        Mode::WebVtt(_) | Mode::Captions => Err(Failure(
            1,
            "--webvtt and --captions run before any plan".into(),
        )),
        Mode::Plan => write_stdout(&format!(
            "{}\n",
            job::plan_document(&plan, args.encryption.is_some())
        )),
        Mode::Segments(first, last) => {
            let indices = job::segment_indices(&plan, first, last)?;
            let mut outputs = Outputs::default();
            let result = write_segments(args, &file, &plan, indices, &mut outputs);
            if result.is_err() {
                outputs.remove_all();
            }
            result
        }
        Mode::Whole => {
            let mut outputs = Outputs::default();
            let result = write_whole(args, &file, &plan, &mut outputs);
            if result.is_err() {
                outputs.remove_all();
            }
            result
        }
    }
}

fn random_iv() -> Result<[u8; 16], Failure> {
    let mut iv = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut iv))
        .map_err(|e| Failure(4, format!("reading /dev/urandom: {e}")))?;
    Ok(iv)
}

/// Muxes segment `index` (encrypted when asked), with `--verbose` progress.
fn mux_segment<'a>(
    args: &Args,
    file: &File,
    plan: &Plan,
    index: usize,
    muxer: &'a mut Muxer,
    writer: &mut SegmentWriter,
    random_iv: Option<[u8; 16]>,
) -> Result<&'a [u8], Failure> {
    let key = args.encryption.as_ref().map(|encryption| Key {
        encryption,
        random_iv,
    });
    let out = muxer.segment(file, plan, writer, index, key.as_ref())?;
    if args.verbose {
        if let Some(segment) = plan.segments.get(index) {
            eprintln!(
                "mp42hls: segment {} ({:.3} s, {} bytes)",
                segment.number,
                segment.duration,
                out.len()
            );
        }
    }
    Ok(out)
}

fn write_segments(
    args: &Args,
    file: &File,
    plan: &Plan,
    indices: std::ops::RangeInclusive<usize>,
    outputs: &mut Outputs,
) -> Result<(), Failure> {
    let mut muxer = Muxer::default();
    let mut writer = SegmentWriter::new(plan);
    for index in indices {
        let out = mux_segment(args, file, plan, index, &mut muxer, &mut writer, None)?;
        let number = plan.segments.get(index).map_or(0, |s| s.number);
        let path = args.segment_filenames.format(number);
        outputs
            .write_file(Path::new(&path), out)
            .map_err(|e| output_error(Path::new(&path), e))?;
    }
    Ok(())
}

fn write_whole(
    args: &Args,
    file: &File,
    plan: &Plan,
    outputs: &mut Outputs,
) -> Result<(), Failure> {
    let random = match &args.encryption {
        Some(Encryption {
            iv_mode: IvMode::Random,
            ..
        }) => Some(random_iv()?),
        _ => None,
    };
    let encrypted = args.encryption.is_some();
    let sizes: Vec<u64> = plan.segments.iter().map(size_on_disk(encrypted)).collect();
    let mut muxer = Muxer::default();
    let mut writer = SegmentWriter::new(plan);
    let mut single_file_offsets = None;
    if args.output_single_file {
        let path = args
            .segment_filenames
            .format(plan.options.first_segment_number);
        let path = Path::new(&path);
        let mut pending = outputs.begin(path).map_err(|e| output_error(path, e))?;
        for index in 0..plan.segments.len() {
            let out = mux_segment(args, file, plan, index, &mut muxer, &mut writer, random)?;
            pending.write_all(out).map_err(|e| output_error(path, e))?;
        }
        outputs.finish(pending).map_err(|e| output_error(path, e))?;
        let offsets = sizes
            .iter()
            .scan(0u64, |at, size| {
                let offset = *at;
                *at += size;
                Some(offset)
            })
            .collect();
        single_file_offsets = Some(offsets);
    } else {
        for (index, segment) in plan.segments.iter().enumerate() {
            let out = mux_segment(args, file, plan, index, &mut muxer, &mut writer, random)?;
            let path = args.segment_filenames.format(segment.number);
            outputs
                .write_file(Path::new(&path), out)
                .map_err(|e| output_error(Path::new(&path), e))?;
        }
    }
    let options = PlaylistOptions {
        version: args.hls_version,
        allow_cache: args.allow_cache,
        key: args.encryption.as_ref().map(|e| KeyLine {
            uri: e.key_uri.clone(),
            iv: random,
        }),
        single_file_offsets,
    };
    // One media file: every entry names it, whatever the URL template says.
    let urls = if args.output_single_file {
        Template::fixed(args.segment_urls.format(plan.options.first_segment_number))
    } else {
        args.segment_urls.clone()
    };
    if let Some(name) = &args.iframe_index_filename {
        let text = hls::iframe_playlist(plan, &urls, &options);
        outputs
            .write_file(Path::new(name), text.as_bytes())
            .map_err(|e| output_error(Path::new(name), e))?;
    }
    // The media playlist goes last: once it exists, everything it names does.
    let text = hls::media_playlist(plan, &urls, &sizes, &options);
    let index = Path::new(&args.index_filename);
    outputs
        .write_file(index, text.as_bytes())
        .map_err(|e| output_error(index, e))?;
    if args.show_info {
        let stats = plan.stats(size_on_disk(encrypted));
        write_stdout(&plan.show_info_text(&stats, &codec_names(plan)))?;
    }
    Ok(())
}
