//! ffmpeg for `record store`: a recording's MPEG-TS segments remuxed, not re-encoded,
//! into one MP4 per rendition. Confined like the tools (own process group, a timeout
//! that kills it, the address-space limit, the parent-death signal) but outside their
//! pool: a long recording's remux must not hold a packaging slot.
//!
//! The input is the concat demuxer's script, not the recording's playlist: the
//! demuxer starts each file where the one before ended (its own timestamps made
//! relative to its start), so a publisher's restart, whose timestamps start over,
//! stays monotonic in the MP4; ffmpeg's HLS reader keeps the jump.

use super::{run_confined, RunLimits};
use crate::error::ToolError;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// A concat demuxer script naming `files` in order (pure). Each path is quoted:
/// inside single quotes only the quote itself is special, written `'\''` (close,
/// escaped quote, reopen). The script is read line by line, so a path with a line
/// break cannot be written: refused, as are relative paths (the demuxer would
/// resolve them against the script's dir) and paths that are not UTF-8. `file:`
/// keeps a `:` in a dir name from reading as a protocol.
pub fn concat_script(files: &[PathBuf]) -> Result<String, String> {
    let mut out = String::from("ffconcat version 1.0\n");
    for file in files {
        let text = file
            .to_str()
            .ok_or_else(|| format!("{}: not UTF-8", file.display()))?;
        if text.contains(['\n', '\r']) {
            return Err(format!("{text:?}: a line break in a path"));
        }
        if !file.is_absolute() {
            return Err(format!("{text}: not an absolute path"));
        }
        out.push_str("file 'file:");
        out.push_str(&text.replace('\'', r"'\''"));
        out.push_str("'\n");
    }
    Ok(out)
}

/// The arguments of one remux (pure): video and audio streams only (an MP4 holds
/// no ID3 timed metadata or DVB subtitles), copied; the mov muxer converts ADTS
/// AAC to raw AAC with an `esds` itself (it inserts `aac_adtstoasc`); `faststart`
/// puts the `moov` first, so a remote title's index is in the head read.
pub fn remux_args(script: &Path, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(script.into());
    args.extend(
        [
            "-map",
            "0:v?",
            "-map",
            "0:a?",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            "-y",
        ]
        .iter()
        .map(OsString::from),
    );
    args.push(out.into());
    args
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemuxError {
    /// The spawn or the wait failed.
    Start(String),
    TimedOut(u64),
    /// A non-zero exit or a signal, with ffmpeg's last error line.
    Failed(String),
    /// Exit 0 without an output file.
    NoOutput,
}

impl fmt::Display for RemuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemuxError::Start(why) => write!(f, "ffmpeg: {why}"),
            RemuxError::TimedOut(secs) => write!(f, "ffmpeg timed out after {secs} s"),
            RemuxError::Failed(why) => write!(f, "ffmpeg failed: {why}"),
            RemuxError::NoOutput => f.write_str("ffmpeg wrote no MP4"),
        }
    }
}

impl std::error::Error for RemuxError {}

/// Remuxes the files `script` names into the MP4 `out`. From the runtime, never
/// the blocking pool: the child's parent-death signal follows the spawning thread.
pub async fn remux(
    ffmpeg: &Path,
    script: &Path,
    out: &Path,
    limits: RunLimits,
) -> Result<(), RemuxError> {
    let args = remux_args(script, out);
    let done = run_confined(ffmpeg, &args, None, None, limits)
        .await
        .map_err(|e| match e {
            ToolError::TimedOut(secs) => RemuxError::TimedOut(secs),
            ToolError::Failed(why) => RemuxError::Start(why),
            other => RemuxError::Start(format!("{other:?}")),
        })?;
    let stderr = String::from_utf8_lossy(&done.stderr);
    if !done.status.success() {
        log::warn!("ffmpeg failed ({}): {}", done.status, stderr.trim());
        let last = stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
        return Err(RemuxError::Failed(format!(
            "{} ({})",
            last.unwrap_or("no reason given"),
            done.status
        )));
    }
    if !stderr.trim().is_empty() {
        log::warn!("ffmpeg: {}", stderr.trim());
    }
    match tokio::fs::metadata(out).await {
        Ok(meta) if meta.is_file() && meta.len() > 0 => Ok(()),
        _ => Err(RemuxError::NoOutput),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_every_path() {
        let files = [
            PathBuf::from("/c/i/recordings/s1-5/seg0.ts"),
            PathBuf::from("/srv/it's here/a b:c/seg1.ts"),
            PathBuf::from("/x/'\\'/seg2.ts"),
        ];
        assert_eq!(
            concat_script(&files).unwrap(),
            "ffconcat version 1.0\n\
             file 'file:/c/i/recordings/s1-5/seg0.ts'\n\
             file 'file:/srv/it'\\''s here/a b:c/seg1.ts'\n\
             file 'file:/x/'\\''\\'\\''/seg2.ts'\n"
        );
        for bad in ["/a\nfile '/etc/passwd'", "/a\r/b.ts", "seg0.ts"] {
            assert!(concat_script(&[PathBuf::from(bad)]).is_err(), "{bad:?}");
        }
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = PathBuf::from(std::ffi::OsStr::from_bytes(b"/a/\xff.ts"));
        assert!(concat_script(&[not_utf8]).is_err());
        assert_eq!(concat_script(&[]).unwrap(), "ffconcat version 1.0\n");
    }

    #[test]
    fn remux_copies_video_and_audio_into_a_faststart_mp4() {
        let args = remux_args(Path::new("/t/list.txt"), Path::new("/t/out.mp4"));
        let text: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text.join(" "),
            "-nostdin -hide_banner -v error -f concat -safe 0 -i /t/list.txt \
             -map 0:v? -map 0:a? -c copy -movflags +faststart -f mp4 -y /t/out.mp4"
        );
    }
}
