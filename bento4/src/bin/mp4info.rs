//! `mp4info`: Bento4's command-line interface over our demuxer. Prints what the
//! MP4 index says; a file that is corrupt gives one line on stderr and exit 2 (3
//! for unsupported media, 4 for a file that cannot be read), never an empty report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use bento4::info::{self, Format, Options};
use bento4::source::Mp4Source;

const USAGE: &str = "\
MP4 File Info - casterpak's mp4info (Bento4 command-line interface)

usage: mp4info [options] <input>
Options:
  --help                 show this text
  --verbose              also print edit lists, sync sample counts, file size
  --format <format>      text (default) or json
  --show-layout          show how the tracks' samples are laid out in the file
  --show-samples         list every sample (offset, size, dts, cts, duration, sync)
  --show-sample-data     with --show-samples, also print each sample's bytes in hex
  --fast                 accepted for compatibility (the index is always read fully)

Exit codes: 0 ok, 1 usage, 2 corrupt input, 3 unsupported, 4 I/O error (input cannot be read, output).
";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Usage,
    Info(Options, PathBuf),
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    if args.is_empty() {
        return Ok(Command::Usage);
    }
    let mut options = Options::default();
    let mut input = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--verbose" => options.verbose = true,
            "--fast" => {}
            "--show-layout" => options.show_layout = true,
            "--show-samples" => options.show_samples = true,
            "--show-sample-data" => {
                options.show_samples = true;
                options.show_sample_data = true;
            }
            "--format" => {
                options.format = match iter.next().map(String::as_str) {
                    Some("text") => Format::Text,
                    Some("json") => Format::Json,
                    Some(other) => {
                        return Err(format!("unknown --format value '{other}' (text or json)"))
                    }
                    None => return Err("--format needs a value (text or json)".into()),
                }
            }
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(format!("unknown option '{other}' (see --help)"));
            }
            path => {
                if input.replace(PathBuf::from(path)).is_some() {
                    return Err("exactly one input file expected".into());
                }
            }
        }
    }
    input
        .map(|path| Command::Info(options, path))
        .ok_or_else(|| "no input file given (see --help)".into())
}

fn fail(message: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("mp4info: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, path) = match parse_args(&args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Usage) => {
            print!("{USAGE}");
            return ExitCode::from(1);
        }
        Ok(Command::Info(options, path)) => (options, path),
        Err(message) => return fail(message, 1),
    };
    let source = match Mp4Source::open(&path) {
        Ok(source) => source,
        Err(error) => return fail(&error, error.exit_code() as u8),
    };
    let mut read_sample = |sample: &bento4::media::Sample| {
        let mut buf = Vec::new();
        source.read_sample(sample, &mut buf).map(|()| buf)
    };
    let report = match info::render(source.movie(), source.details(), &options, &mut read_sample) {
        Ok(report) => report,
        Err(error) => return fail(&error, error.exit_code() as u8),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(format!("writing output: {error}"), 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines() {
        let json = Options {
            format: Format::Json,
            ..Default::default()
        };
        let samples = Options {
            show_samples: true,
            show_sample_data: true,
            ..Default::default()
        };
        let cases: Vec<(Vec<&str>, Result<Command, ()>)> = vec![
            (vec![], Ok(Command::Usage)),
            (vec!["--help"], Ok(Command::Help)),
            (
                vec!["a.mp4"],
                Ok(Command::Info(Options::default(), "a.mp4".into())),
            ),
            (
                vec!["--format", "json", "a.mp4"],
                Ok(Command::Info(json, "a.mp4".into())),
            ),
            (
                vec!["--fast", "--show-sample-data", "a.mp4"],
                Ok(Command::Info(samples, "a.mp4".into())),
            ),
            (vec!["--format", "xml", "a.mp4"], Err(())),
            (vec!["a.mp4", "--format"], Err(())),
            (vec!["--bogus", "a.mp4"], Err(())),
            (vec!["a.mp4", "b.mp4"], Err(())),
            (vec!["--verbose"], Err(())),
        ];
        for (list, expected) in cases {
            assert_eq!(
                parse_args(&args(&list)).map_err(|_| ()),
                expected,
                "{list:?}"
            );
        }
    }
}
