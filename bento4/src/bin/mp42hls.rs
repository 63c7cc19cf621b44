//! `mp42hls`: MP4 to HLS (MPEG-TS segments and playlists), Bento4's interface plus
//! casterpak's extensions. All I/O lives here (and in the two modules below); the
//! plan, the muxer and the playlists are pure library code.

#[path = "mp42hls/output.rs"]
mod output;
#[path = "mp42hls/sample_reader.rs"]
mod sample_reader;

use bento4::aes;
use bento4::cli::mp42hls::{self as cli, Args, Command, Encryption, IvMode, Mode};
use bento4::error::Mp4Error;
use bento4::hls::{self, KeyLine, PlaylistOptions, Template};
use bento4::mp4::codecs_string;
use bento4::plan::stats::CodecNames;
use bento4::plan::{select_streams, Plan, PlanError, SegmentPlan};
use bento4::source::Mp4Source;
use bento4::ts::mux::SegmentWriter;
use output::Outputs;
use sample_reader::SegmentSamples;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// A failure: exit code (bento4/README.md) and the one-line reason.
struct Failure(u8, String);

impl From<Mp4Error> for Failure {
    fn from(e: Mp4Error) -> Self {
        Failure(e.exit_code() as u8, e.to_string())
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Unsupported(m) => Failure(3, format!("unsupported input: {m}")),
            PlanError::Corrupt(m) => Failure(2, format!("corrupt input: {m}")),
        }
    }
}

fn output_error(path: &Path, e: std::io::Error) -> Failure {
    Failure(4, format!("writing {}: {e}", path.display()))
}

/// Writes to stdout without `print!`'s panic when the reader went away (`| head`):
/// a closed pipe is an output error like any other, exit 4 with one line.
fn write_stdout(text: &str) -> Result<(), Failure> {
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
            let line: String = reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            eprintln!("mp42hls: {line}");
            ExitCode::from(code)
        }
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let source = Mp4Source::open(&args.input)?;
    let movie = source.movie();
    let mut streams = select_streams(movie, &args.plan)?;
    if streams.video_needs_nal_counts() {
        // Short NAL length prefixes grow by a start code per NAL: count them (reads
        // the video samples; see bento4/README.md).
        if let Some(video) = streams.video.as_mut() {
            let mut buf = Vec::new();
            let mut counts = Vec::with_capacity(video.track.samples.len());
            for sample in &video.track.samples {
                source.read_sample(&sample, &mut buf)?;
                let count = video.framing.nal_count(&buf).map_err(|e| {
                    Failure(
                        2,
                        format!("corrupt input: track {}: {}", video.track.id, e.0),
                    )
                })?;
                counts.push(u32::try_from(count).unwrap_or(u32::MAX));
            }
            video.nal_counts = Some(counts);
        }
    }
    let plan = Plan::new(movie, args.plan.clone(), streams)?;
    let codecs = CodecNames {
        audio: plan
            .streams
            .audio
            .as_ref()
            .and_then(|a| codecs_string(&a.track.codec)),
        video: plan
            .streams
            .video
            .as_ref()
            .and_then(|v| codecs_string(&v.track.codec)),
    };
    let encrypted = args.encryption.is_some();
    let size_on_disk = |s: &SegmentPlan| {
        if encrypted {
            aes::encrypted_len(s.size)
        } else {
            s.size
        }
    };
    match args.mode {
        Mode::Plan => {
            let stats = plan.stats(size_on_disk);
            write_stdout(&format!(
                "{}\n",
                plan.plan_json(&stats, &codecs, size_on_disk)
            ))
        }
        Mode::Segments(first, last) => {
            let (Some(from), Some(to)) = (plan.segment_index(first), plan.segment_index(last))
            else {
                let from = plan.options.first_segment_number;
                let to = from.saturating_add((plan.segments.len() as u64).saturating_sub(1));
                return Err(Failure(
                    5,
                    format!("segments {first}-{last} out of range ({from}-{to})"),
                ));
            };
            let mut outputs = Outputs::default();
            let result = write_segments(args, &plan, from..=to, &mut outputs);
            if result.is_err() {
                outputs.remove_all();
            }
            result
        }
        Mode::Whole => {
            let mut outputs = Outputs::default();
            let result = write_whole(args, &plan, &codecs, &mut outputs);
            if result.is_err() {
                outputs.remove_all();
            }
            result
        }
    }
}

/// The IV of one segment: its sequence number, or the run's random IV.
fn segment_iv(encryption: &Encryption, random_iv: Option<[u8; 16]>, number: u64) -> [u8; 16] {
    match (encryption.iv_mode, random_iv) {
        (IvMode::Random, Some(iv)) => iv,
        _ => aes::sequence_iv(number),
    }
}

fn random_iv() -> Result<[u8; 16], Failure> {
    let mut iv = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut iv))
        .map_err(|e| Failure(4, format!("reading /dev/urandom: {e}")))?;
    Ok(iv)
}

/// Muxes segment `index` into `out` (cleared), encrypted when asked.
fn mux_segment(
    args: &Args,
    plan: &Plan,
    index: usize,
    samples: &mut SegmentSamples,
    writer: &mut SegmentWriter,
    out: &mut Vec<u8>,
    random_iv: Option<[u8; 16]>,
) -> Result<(), Failure> {
    samples.load(plan, index)?;
    out.clear();
    writer
        .write(plan, index, samples, out)
        .map_err(|e| Failure(2, format!("corrupt input: {}", e.0)))?;
    if let (Some(encryption), Some(segment)) = (&args.encryption, plan.segments.get(index)) {
        aes::encrypt_in_place(
            out,
            &encryption.key,
            &segment_iv(encryption, random_iv, segment.number),
        );
    }
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
    Ok(())
}

fn open_samples(args: &Args) -> Result<SegmentSamples, Failure> {
    let file = std::fs::File::open(&args.input).map_err(|e| {
        Failure(
            2,
            format!("cannot read input: {}: {e}", args.input.display()),
        )
    })?;
    Ok(SegmentSamples::new(file))
}

fn write_segments(
    args: &Args,
    plan: &Plan,
    indices: std::ops::RangeInclusive<usize>,
    outputs: &mut Outputs,
) -> Result<(), Failure> {
    let mut samples = open_samples(args)?;
    let mut writer = SegmentWriter::new(plan);
    let mut out = Vec::new();
    for index in indices {
        mux_segment(args, plan, index, &mut samples, &mut writer, &mut out, None)?;
        let number = plan.segments.get(index).map_or(0, |s| s.number);
        let path = args.segment_filenames.format(number);
        outputs
            .write_file(Path::new(&path), &out)
            .map_err(|e| output_error(Path::new(&path), e))?;
    }
    Ok(())
}

fn write_whole(
    args: &Args,
    plan: &Plan,
    codecs: &CodecNames,
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
    let sizes: Vec<u64> = plan
        .segments
        .iter()
        .map(|s| {
            if encrypted {
                aes::encrypted_len(s.size)
            } else {
                s.size
            }
        })
        .collect();
    let mut samples = open_samples(args)?;
    let mut writer = SegmentWriter::new(plan);
    let mut out = Vec::new();
    let mut single_file_offsets = None;
    if args.output_single_file {
        let path = args
            .segment_filenames
            .format(plan.options.first_segment_number);
        let path = Path::new(&path);
        let mut pending = outputs.begin(path).map_err(|e| output_error(path, e))?;
        for index in 0..plan.segments.len() {
            mux_segment(
                args,
                plan,
                index,
                &mut samples,
                &mut writer,
                &mut out,
                random,
            )?;
            pending.write_all(&out).map_err(|e| output_error(path, e))?;
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
            mux_segment(
                args,
                plan,
                index,
                &mut samples,
                &mut writer,
                &mut out,
                random,
            )?;
            let path = args.segment_filenames.format(segment.number);
            outputs
                .write_file(Path::new(&path), &out)
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
        let stats = plan.stats(|s| {
            if encrypted {
                aes::encrypted_len(s.size)
            } else {
                s.size
            }
        });
        write_stdout(&plan.show_info_text(&stats, codecs))?;
    }
    Ok(())
}
