//! `mp42hls` options: Bento4's (see `shared/docs/bento4-cli.md`) plus our extensions
//! (`--capabilities`, `--first-segment-number`, `--plan`, `--segments`, `--serve`).

use crate::cli::serve::ServeOptions;
use crate::cmaf::protect::Cbcs;
use crate::cmaf::CmafTrack;
use crate::hls::Template;
use crate::plan::{PlanOptions, Trim};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: mp42hls [options] <input>
       mp42hls --serve [--index-cache-entries <n>] [--index-cache-bytes <b>]
Options:
  --segment-duration <s>              target segment duration in seconds, decimals allowed (default 6)
  --segment-duration-threshold <ms>   a keyframe this early still ends a segment (default 15)
  --index-filename <f>                playlist path (default stream.m3u8)
  --segment-filename-template <p>     segment file paths, one %d (default segment-%d.ts; stream.ts with --output-single-file)
  --segment-url-template <p>          segment URIs in the playlist, one %d (default segment-%d.ts)
  --hls-version <n>                   playlist version, raised as features need (default 3)
  --pmt-pid <pid>                     (default 0x100)
  --audio-pid <pid>                   (default 0x101)
  --video-pid <pid>                   (default 0x102)
  --audio-track-id <id>               audio track to use; 0 = no audio
  --video-track-id <id>               video track to use; 0 = no video
  --pcr-offset <ticks>                first DTS in 90 kHz ticks (default 10000)
  --show-info                         print a JSON summary on stdout
  --iframe-index-filename <f>         also write an I-frame playlist
  --output-single-file                one media file, playlist entries with byte ranges
  --encryption-key <hex>              AES-128 key, 32 hex digits
  --encryption-mode <m>               AES-128 (SAMPLE-AES is not supported)
  --encryption-iv-mode <m>            sequence (default) or random
  --encryption-key-uri <u>            key URI in the playlist (default key.bin)
  --allow-cache <YES|NO>              add EXT-X-ALLOW-CACHE
  --verbose                           progress on stderr
  -h, --help                          this text
Extensions (casterpak only, not in Bento4):
  --capabilities                      print the supported extensions as JSON and exit
  --first-segment-number <n>          number of the first segment (default 0)
  --plan                              print the segment plan as JSON from the index alone; write nothing
  --segments <K>|<K-M>                write only segments K..=M (no playlist); exit 5 when out of range
  --trim-start <s>                    with --segments K: segment K from its last keyframe at or before s
                                      (seconds on the playlist timeline), ending on the counters it ends on
  --trim-end <s>                      with --segments K: segment K up to its first keyframe at or after s
  --align-to-video                    with --video-track-id 0 on a title with video: cut the audio where the
                                      muxed stream is cut (each segment the audio beside that video segment)
  --cmaf <video|audio>                CMAF (fMP4) output of that one track instead of TS: init segment,
                                      .m4s segments cut where the TS ones are, a version 7 playlist with
                                      EXT-X-MAP; with --plan, adds each track's [tfdt, duration] timeline
  --init-segment-filename <f>         with --cmaf: the init segment's path and EXT-X-MAP URI (default init.mp4)
  --init-segment                      with --cmaf: write only the init segment
  --encryption-mode cbcs              with --cmaf: cbcs (ISO 23001-7) protection: video 1:9 pattern over
                                      NAL bodies, audio whole-sample; needs --encryption-key,
  --encryption-kid <hex>              the key ID (32 hex digits, in tenc and a Common pssh) and
  --encryption-iv <hex>               the constant IV (32 hex digits)
  --webvtt <track-id>                 print that tx3g (mov_text) track's cues as WebVTT; write nothing
  --captions                          print the CEA-608 fields the video's first 60 samples carry in
                                      SEI (ATSC A/53 GA94) as JSON; write nothing
  --serve                             long-lived: run jobs from stdin, answer each on stdout (below)
  --index-cache-entries <n>           with --serve: parsed indexes kept, least recently used evicted (default 64)
  --index-cache-bytes <b>             with --serve: bytes of index memory kept (default 268435456)
Serve mode (extension; full protocol in bento4/README.md):
  stdin a SOCK_SEQPACKET/SOCK_DGRAM socket: one job per message, a JSON object with the
  source file's descriptor attached (SCM_RIGHTS, exactly one); the source is read only
  through it. Otherwise: one JSON object per line, with \"input\": \"<path>\" instead.
  Jobs: {\"id\":N,\"op\":\"plan\",\"segment_duration\":S[,\"first_segment_number\":F (default 1)]}
        {\"id\":N,\"op\":\"segment\",\"segment_duration\":S,\"k\":K,\"output\":\"/abs/new.ts\"[,\"trim_start\":T][,\"trim_end\":T]}
        {\"id\":N,\"op\":\"stats\"}
        {\"id\":N,\"op\":\"webvtt\",\"track_id\":T} (answer: \"webvtt\", the --webvtt text)
        {\"id\":N,\"op\":\"captions\"} (answer: the --captions fields)
        \"cmaf\":\"video\"|\"audio\" on plan/segment jobs: CMAF (plan: with timelines), and
        {\"id\":N,\"op\":\"init\",\"cmaf\":T,\"segment_duration\":S,\"output\":\"/abs/new.mp4\"}
  A segment job creates output (O_EXCL, mode 0644) and removes it on any failure.
  Answers, one line each, in order: {\"id\":N,\"ok\":true,...} (plan: the --plan fields;
  segment: \"bytes\"; stats: \"entries\", \"bytes\") or
  {\"id\":N,\"ok\":false,\"code\":C,\"reason\":\"...\"} with C the one-shot exit code.
  A failed job never ends the process; end of input (or an empty message) ends it, exit 0.
";

pub const CAPABILITIES: &str =
    "{\"casterpak_extensions\":1,\"plan\":true,\"segments\":true,\"first_segment_number\":true,\"serve\":true,\"cmaf\":true,\"cbcs\":true}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvMode {
    Sequence,
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub key: [u8; 16],
    pub iv_mode: IvMode,
    pub key_uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write everything: segments, playlist(s).
    Whole,
    /// Print the plan, write nothing.
    Plan,
    /// Write only segments first..=last (numbers in the output numbering).
    Segments(u64, u64),
    /// `--cmaf` only: write only the init segment.
    Init,
    /// Print a timed text track as WebVTT, write nothing.
    WebVtt(u32),
    /// Print which CEA-608 caption fields the video carries, write nothing.
    Captions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub input: PathBuf,
    pub plan: PlanOptions,
    pub mode: Mode,
    pub hls_version: u32,
    pub index_filename: String,
    pub segment_filenames: Template,
    pub segment_urls: Template,
    pub iframe_index_filename: Option<String>,
    pub output_single_file: bool,
    pub show_info: bool,
    pub verbose: bool,
    pub allow_cache: Option<bool>,
    pub encryption: Option<Encryption>,
    /// `--cmaf`: CMAF output of this one track instead of TS.
    pub cmaf: Option<CmafTrack>,
    /// `--encryption-mode cbcs` (with `--cmaf`): the track's key, key ID and IV, and
    /// the key URI its playlist names (`--encryption-key-uri`).
    pub cbcs: Option<(Cbcs, String)>,
    pub init_segment_filename: String,
}

/// A bad command line: exit 1. `show_usage` for unknown options and a missing
/// input, where the usage text helps; a bad value gets its one-line reason only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub reason: String,
    pub show_usage: bool,
}

impl From<String> for UsageError {
    fn from(reason: String) -> Self {
        UsageError {
            reason,
            show_usage: false,
        }
    }
}

impl From<&str> for UsageError {
    fn from(reason: &str) -> Self {
        UsageError::from(reason.to_string())
    }
}

fn with_usage(reason: impl Into<String>) -> UsageError {
    UsageError {
        reason: reason.into(),
        show_usage: true,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<Args>),
    /// `--serve`: jobs from stdin (`crate::cli::serve`).
    Serve(ServeOptions),
    Help,
    Capabilities,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    if args.is_empty() {
        return Err(with_usage("no input given"));
    }
    if args.iter().any(|a| a == "--serve") {
        return parse_serve(args);
    }
    let mut plan = PlanOptions::default();
    let mut mode = Mode::Whole;
    let mut hls_version = 3;
    let mut index_filename = "stream.m3u8".to_string();
    let mut filename_template = None;
    let mut url_template = None;
    let mut iframe_index_filename = None;
    let mut output_single_file = false;
    let mut show_info = false;
    let mut verbose = false;
    let (mut trim_start, mut trim_end) = (None, None);
    let mut allow_cache = None;
    let mut key = None;
    let (mut kid, mut constant_iv) = (None, None);
    let mut encryption_mode = None;
    let mut iv_mode = IvMode::Sequence;
    let mut key_uri = "key.bin".to_string();
    let mut inputs = Vec::new();
    let mut cmaf = None;
    let mut init_segment_filename = "init.mp4".to_string();
    let mut init_only = false;

    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--capabilities" => return Ok(Command::Capabilities),
            "--segment-duration" => {
                let text = value(arg)?;
                let seconds: f64 = text
                    .parse()
                    .map_err(|_| format!("--segment-duration {text:?} is not a number"))?;
                if !(seconds > 0.0 && seconds.is_finite() && seconds <= 86_400.0) {
                    return Err(format!("--segment-duration must be above 0 (got {text})").into());
                }
                plan.segment_duration = seconds;
            }
            "--segment-duration-threshold" => {
                let ms = number(arg, &value(arg)?)?;
                plan.threshold_seconds = ms as f64 / 1000.0;
            }
            "--index-filename" => index_filename = value(arg)?,
            "--segment-filename-template" => filename_template = Some(value(arg)?),
            "--segment-url-template" => url_template = Some(value(arg)?),
            "--hls-version" => {
                hls_version = u32::try_from(number(arg, &value(arg)?)?)
                    .ok()
                    .filter(|v| (1..=12).contains(v))
                    .ok_or_else(|| format!("{arg} must be between 1 and 12"))?;
            }
            "--pmt-pid" => plan.pmt_pid = pid(arg, &value(arg)?)?,
            "--audio-pid" => plan.audio_pid = pid(arg, &value(arg)?)?,
            "--video-pid" => plan.video_pid = pid(arg, &value(arg)?)?,
            "--audio-track-id" => plan.audio_track_id = Some(track_id(arg, &value(arg)?)?),
            "--video-track-id" => plan.video_track_id = Some(track_id(arg, &value(arg)?)?),
            "--pcr-offset" => {
                plan.pcr_offset = number(arg, &value(arg)?)?;
                if plan.pcr_offset >= 1 << 32 {
                    return Err(format!("{arg} is too large").into());
                }
            }
            "--show-info" => show_info = true,
            "--iframe-index-filename" => iframe_index_filename = Some(value(arg)?),
            "--output-single-file" => output_single_file = true,
            "--encryption-key" => {
                let text = value(arg)?;
                let parsed = crate::aes::parse_key(&text);
                key = Some(parsed.ok_or_else(|| format!("{arg} must be 32 hex digits"))?);
            }
            "--encryption-mode" => encryption_mode = Some(value(arg)?),
            "--encryption-kid" | "--encryption-iv" => {
                let text = value(arg)?;
                let parsed = crate::aes::parse_key(&text)
                    .ok_or_else(|| format!("{arg} must be 32 hex digits"))?;
                if arg == "--encryption-kid" {
                    kid = Some(parsed);
                } else {
                    constant_iv = Some(parsed);
                }
            }
            "--encryption-iv-mode" => {
                iv_mode = match value(arg)?.as_str() {
                    "sequence" => IvMode::Sequence,
                    "random" => IvMode::Random,
                    other => return Err(format!("{arg} {other:?}: use sequence or random").into()),
                }
            }
            "--encryption-key-uri" => key_uri = value(arg)?,
            "--allow-cache" => {
                allow_cache = match value(arg)?.to_ascii_uppercase().as_str() {
                    "YES" => Some(true),
                    "NO" => Some(false),
                    other => return Err(format!("{arg} {other:?}: use YES or NO").into()),
                }
            }
            "--verbose" => verbose = true,
            "--first-segment-number" => {
                plan.first_segment_number = number(arg, &value(arg)?)?;
                // Kept exact in JSON readers that use doubles, with room to count up.
                if plan.first_segment_number >= 1 << 52 {
                    return Err(format!("{arg} is too large").into());
                }
            }
            "--plan" => mode = Mode::Plan,
            "--align-to-video" => plan.align_to_video = true,
            "--webvtt" => mode = Mode::WebVtt(track_id(arg, &value(arg)?)?),
            "--captions" => mode = Mode::Captions,
            "--trim-start" => trim_start = Some(trim_seconds(arg, &value(arg)?)?),
            "--trim-end" => trim_end = Some(trim_seconds(arg, &value(arg)?)?),
            "--cmaf" => {
                let text = value(arg)?;
                cmaf = Some(
                    CmafTrack::parse(&text)
                        .ok_or_else(|| format!("{arg} {text:?}: use video or audio"))?,
                );
            }
            "--init-segment-filename" => init_segment_filename = value(arg)?,
            "--init-segment" => init_only = true,
            "--segments" => {
                let text = value(arg)?;
                mode = segments(&text)
                    .ok_or_else(|| format!("{arg} {text:?}: use K or K-M with K <= M"))?;
            }
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(with_usage(format!("unknown option {other}")));
            }
            _ => inputs.push(arg.clone()),
        }
    }

    let input = match inputs.as_slice() {
        [one] => PathBuf::from(one),
        [] => return Err(with_usage("no input given")),
        _ => {
            return Err(with_usage(format!(
                "exactly one input expected, got {}",
                inputs.len()
            )))
        }
    };
    // cbcs is CMAF's: key, key ID and constant IV, all three.
    let mut cbcs = None;
    if encryption_mode.as_deref() == Some("cbcs") {
        if cmaf.is_none() {
            return Err("--encryption-mode cbcs needs --cmaf (TS takes AES-128)".into());
        }
        match (key.take(), kid, constant_iv) {
            (Some(key), Some(kid), Some(iv)) => cbcs = Some((Cbcs { key, kid, iv }, key_uri.clone())),
            _ => {
                return Err(
                    "--encryption-mode cbcs needs --encryption-key, --encryption-kid and --encryption-iv"
                        .into(),
                )
            }
        }
        encryption_mode = None;
    } else if kid.is_some() || constant_iv.is_some() {
        return Err("--encryption-kid and --encryption-iv go with --encryption-mode cbcs".into());
    }
    let encryption = match (key, encryption_mode.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => return Err("--encryption-mode needs --encryption-key".into()),
        (Some(key), None | Some("AES-128")) => Some(Encryption {
            key,
            iv_mode,
            key_uri,
        }),
        (Some(_), Some("SAMPLE-AES")) => {
            return Err("--encryption-mode SAMPLE-AES is unsupported; use AES-128".into())
        }
        (Some(_), Some(other)) => {
            return Err(format!("--encryption-mode {other:?} is unsupported").into())
        }
    };
    if encryption.is_some() && iframe_index_filename.is_some() {
        return Err("an I-frame playlist cannot point into AES-128 encrypted segments".into());
    }
    if encryption.is_some() && output_single_file {
        return Err("--output-single-file cannot be combined with encryption".into());
    }
    if trim_start.is_some() || trim_end.is_some() {
        let Mode::Segments(k, last) = mode else {
            return Err("--trim-start and --trim-end need --segments K".into());
        };
        if k != last {
            return Err("--trim-start and --trim-end trim one segment: use --segments K".into());
        }
        plan.trim = Some(Trim {
            number: k,
            start: trim_start,
            end: trim_end,
        });
    }
    if matches!(mode, Mode::Segments(..)) && output_single_file {
        return Err(
            "--segments writes segment files; it cannot be combined with --output-single-file"
                .into(),
        );
    }
    if matches!(mode, Mode::Segments(..))
        && matches!(
            &encryption,
            Some(Encryption {
                iv_mode: IvMode::Random,
                ..
            })
        )
    {
        return Err(
            "--segments needs --encryption-iv-mode sequence (a random IV differs per run)".into(),
        );
    }
    if plan.pmt_pid == plan.video_pid
        || plan.pmt_pid == plan.audio_pid
        || plan.video_pid == plan.audio_pid
    {
        return Err("--pmt-pid, --audio-pid and --video-pid must differ".into());
    }
    if matches!(mode, Mode::WebVtt(_) | Mode::Captions) && (cmaf.is_some() || init_only) {
        return Err("--webvtt and --captions go without --cmaf and --init-segment".into());
    }
    if init_only {
        if cmaf.is_none() || mode != Mode::Whole {
            return Err("--init-segment needs --cmaf and goes without --plan or --segments".into());
        }
        mode = Mode::Init;
    }
    if cmaf.is_some()
        && (encryption.is_some() || output_single_file || iframe_index_filename.is_some())
    {
        return Err(
            "--cmaf cannot be combined with encryption, --output-single-file or --iframe-index-filename"
                .into(),
        );
    }
    let default_file = if output_single_file {
        "stream.ts"
    } else if cmaf.is_some() {
        "segment-%d.m4s"
    } else {
        "segment-%d.ts"
    };
    let segment_filenames = Template::parse(filename_template.as_deref().unwrap_or(default_file))?;
    let segment_urls = Template::parse(url_template.as_deref().unwrap_or(default_file))?;
    if !output_single_file && !segment_filenames.has_number() {
        return Err("--segment-filename-template needs a %d".into());
    }
    Ok(Command::Run(Box::new(Args {
        input,
        plan,
        mode,
        hls_version,
        index_filename,
        segment_filenames,
        segment_urls,
        iframe_index_filename,
        output_single_file,
        show_info,
        verbose,
        allow_cache,
        encryption,
        cmaf,
        cbcs,
        init_segment_filename,
    })))
}

/// `--serve` and its own two options; nothing else goes with it (every other
/// option is a job field or does not apply to serve mode).
fn parse_serve(args: &[String]) -> Result<Command, UsageError> {
    let mut options = ServeOptions::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--serve" => {}
            "--index-cache-entries" => {
                options.index_cache_entries = usize::try_from(number(arg, &value(arg)?)?)
                    .map_err(|_| format!("{arg} is too large"))?;
            }
            "--index-cache-bytes" => {
                options.index_cache_bytes = usize::try_from(number(arg, &value(arg)?)?)
                    .map_err(|_| format!("{arg} is too large"))?;
            }
            other if other.starts_with('-') => {
                return Err(with_usage(format!(
                    "{other} cannot be combined with --serve (jobs carry their options)"
                )));
            }
            other => {
                return Err(with_usage(format!(
                    "--serve takes no input ({other}): jobs name or carry their sources"
                )));
            }
        }
    }
    Ok(Command::Serve(options))
}

fn number(name: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{name} {text:?} is not a non-negative integer"))
}

fn track_id(name: &str, text: &str) -> Result<u32, String> {
    u32::try_from(number(name, text)?).map_err(|_| format!("{name} {text:?} is too large"))
}

/// A PID in decimal or 0x hex, in the range the standard leaves for user streams.
fn pid(name: &str, text: &str) -> Result<u16, String> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    value
        .filter(|v| (0x10..=0x1FFE).contains(v))
        .map(|v| v as u16)
        .ok_or_else(|| format!("{name} {text:?} must be a PID from 0x10 to 0x1FFE"))
}

/// A trim time: seconds, not negative.
fn trim_seconds(name: &str, text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| format!("{name} {text:?} must be a number of seconds, not negative"))
}

fn segments(text: &str) -> Option<Mode> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let k = text.parse().ok()?;
            (k, k)
        }
    };
    (first <= last).then_some(Mode::Segments(first, last))
}

#[cfg(test)]
mod tests;
