//! Recordings of live streams: `<cache_root>/<url_prefix>/recordings/<id>/`, each
//! segment seen between start and stop hard-linked in (the publisher's DELETE and the
//! live sweep then remove only the live name), a VOD media playlist and a master
//! written at stop, so nginx serves the recording like any cached title.
//!
//! State is a file in the recording's own dir (`.recording.json`, a dot name nginx
//! never serves), not sled: a recording is then one directory that is whole by
//! itself (delete the dir, the state goes with it), and `record list` needs no index.

use super::playlist::{self, RecordedSegment};
use super::{unix_secs, write_atomically};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

/// The recordings dir's name under the URL prefix's cache dir.
pub const RECORDINGS: &str = "recordings";
const STATE: &str = ".recording.json";
/// The live media playlist a recording follows: ffmpeg's usual output name, else
/// the first variant of the stream's master (several renditions: `-master_pl_name`).
const LIVE_PLAYLIST: &str = "index.m3u8";
pub const MEDIA_PLAYLIST: &str = "index_0_av.m3u8";
pub const MASTER_PLAYLIST: &str = "master.m3u8";

/// A `record` command, as the control socket and the HTTP endpoint take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `from`: unix seconds, or `-<secs>[s]` before now; none: now.
    Start {
        stream: String,
        from: Option<String>,
    },
    Stop {
        id: String,
    },
    List,
    Delete {
        id: String,
    },
}

impl Command {
    /// Pure parser of the words after `record`.
    pub fn parse(words: &[&str]) -> Result<Command, String> {
        let id = |id: &str| {
            valid_id(id)
                .then(|| id.to_string())
                .ok_or_else(|| format!("{id:?} is not a recording id"))
        };
        match words {
            ["start", stream] | ["start", stream, "--from", _] => {
                if !playlist::valid_stream(stream) {
                    return Err(format!(
                        "{stream:?} is not a stream name (letters, digits, '_', '-'; 64 at most)"
                    ));
                }
                let from = match words {
                    [_, _, _, from] => {
                        parse_from(from, 0.0)?;
                        Some(from.to_string())
                    }
                    _ => None,
                };
                Ok(Command::Start {
                    stream: stream.to_string(),
                    from,
                })
            }
            ["stop", i] => Ok(Command::Stop { id: id(i)? }),
            ["delete", i] => Ok(Command::Delete { id: id(i)? }),
            ["list"] => Ok(Command::List),
            _ => Err("expected `record start STREAM [--from UNIX|-SECS]`, `record stop ID`, `record list` or `record delete ID`".into()),
        }
    }

    pub fn to_words(&self) -> String {
        match self {
            Command::Start { stream, from: None } => format!("start {stream}"),
            Command::Start {
                stream,
                from: Some(f),
            } => format!("start {stream} --from {f}"),
            Command::Stop { id } => format!("stop {id}"),
            Command::List => "list".into(),
            Command::Delete { id } => format!("delete {id}"),
        }
    }
}

/// `--from`: a unix time (seconds, decimals allowed) or `-8s` / `-8` before `now`.
pub fn parse_from(text: &str, now: f64) -> Result<f64, String> {
    let bad = || format!("--from {text:?}: expected unix seconds or -SECS (e.g. -8s)");
    if let Some(ago) = text.strip_prefix('-') {
        let secs: f64 = ago
            .strip_suffix('s')
            .unwrap_or(ago)
            .parse()
            .map_err(|_| bad())?;
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(bad());
        }
        return Ok(now - secs);
    }
    let at: f64 = text.parse().map_err(|_| bad())?;
    if !(at.is_finite() && at > 0.0) {
        return Err(bad());
    }
    Ok(at)
}

/// Ids are `<stream>-<unix seconds>[-<n>]`: one path component, nothing to escape.
pub fn valid_id(id: &str) -> bool {
    (1..=96).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    id: String,
    stream: String,
    /// The media playlist followed, a file name in the stream's dir.
    playlist: String,
    /// Unix seconds: segments that end after it are kept.
    from: f64,
    /// Unix seconds: set at stop; segments starting before it were kept.
    stop: Option<f64>,
    /// Media sequence of the newest segment taken: a smaller one is a restart.
    last_sequence: Option<u64>,
    /// (device, inode) of every segment taken; its link keeps the inode ours.
    taken: Vec<(u64, u64)>,
    segments: Vec<RecordedSegment>,
}

fn read_state(dir: &Path) -> io::Result<State> {
    let text = fs::read(dir.join(STATE))?;
    serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn write_state(dir: &Path, state: &State) -> io::Result<()> {
    let text = serde_json::to_vec(state).map_err(io::Error::other)?;
    write_atomically(&dir.join(STATE), &text)
}

/// Runs one command; the answer is one line (`error: …` when it failed).
pub fn run(command: &Command, live: &Path, recordings: &Path, now: SystemTime) -> String {
    let result = match command {
        Command::Start { stream, from } => start(stream, from.as_deref(), live, recordings, now),
        Command::Stop { id } => stop(id, live, recordings, now),
        Command::List => list(recordings),
        Command::Delete { id } => delete(id, recordings),
    };
    result.unwrap_or_else(|e| format!("error: {e}"))
}

fn start(
    stream: &str,
    from: Option<&str>,
    live: &Path,
    recordings: &Path,
    now: SystemTime,
) -> Result<String, String> {
    let now_secs = unix_secs(now);
    let from = match from {
        Some(f) => parse_from(f, now_secs)?,
        None => now_secs,
    };
    let Some(followed) = followed_playlist(&live.join(stream)) else {
        return Err(format!(
            "stream {stream:?} is not publishing (no media playlist)"
        ));
    };
    let base = format!("{stream}-{}", now_secs as u64);
    let mut id = base.clone();
    let mut n = 1;
    let dir = loop {
        let dir = recordings.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => {
                n += 1;
                id = format!("{base}-{n}");
            }
            Err(e) => return Err(format!("creating recording dir: {e}")),
        }
    };
    let mut state = State {
        id: id.clone(),
        stream: stream.to_string(),
        playlist: followed,
        from,
        stop: None,
        last_sequence: None,
        taken: Vec::new(),
        segments: Vec::new(),
    };
    // At once: a `--from` in the past takes what the window still holds.
    take_new(&mut state, &live.join(stream), &dir).map_err(|e| e.to_string())?;
    write_state(&dir, &state).map_err(|e| e.to_string())?;
    Ok(format!(
        "record: started {id} (stream {stream}, from {from:.3}, {} segments so far)",
        state.segments.len()
    ))
}

fn stop(id: &str, live: &Path, recordings: &Path, now: SystemTime) -> Result<String, String> {
    let dir = recordings.join(id);
    let mut state = read_state(&dir).map_err(|e| format!("recording {id}: {e}"))?;
    if state.stop.is_some() {
        return Err(format!("recording {id} is already stopped"));
    }
    state.stop = Some(unix_secs(now));
    let stream_dir = live.join(&state.stream);
    take_new(&mut state, &stream_dir, &dir).map_err(|e| e.to_string())?;
    // Playlists before the state: a state saying "stopped" always has them.
    write_atomically(
        &dir.join(MEDIA_PLAYLIST),
        playlist::vod(&state.segments).as_bytes(),
    )
    .and_then(|()| {
        write_atomically(
            &dir.join(MASTER_PLAYLIST),
            playlist::master(&state.segments, MEDIA_PLAYLIST).as_bytes(),
        )
    })
    .and_then(|()| write_state(&dir, &state))
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "record: stopped {id}: {} segments, {:.1} s",
        state.segments.len(),
        playlist::duration(&state.segments)
    ))
}

fn list(recordings: &Path) -> Result<String, String> {
    let mut rows = Vec::new();
    for (id, dir) in recording_dirs(recordings) {
        match read_state(&dir) {
            Ok(s) => rows.push(format!(
                "{id} stream={} {} segments={} duration={:.1}s",
                s.stream,
                if s.stop.is_some() {
                    "stopped"
                } else {
                    "recording"
                },
                s.segments.len(),
                playlist::duration(&s.segments)
            )),
            Err(e) => rows.push(format!("{id} unreadable ({e})")),
        }
    }
    Ok(format!(
        "record: {} recordings; {}",
        rows.len(),
        rows.join("; ")
    ))
}

fn delete(id: &str, recordings: &Path) -> Result<String, String> {
    let dir = recordings.join(id);
    if !dir.join(STATE).is_file() {
        return Err(format!("no recording {id}"));
    }
    fs::remove_dir_all(&dir).map_err(|e| format!("deleting recording {id}: {e}"))?;
    Ok(format!("record: deleted {id}"))
}

/// Active recordings take the segments that appeared since the last tick. Returns
/// (recording, stopped) counts.
pub fn tick(live: &Path, recordings: &Path, _now: SystemTime) -> (u64, u64) {
    let (mut active, mut done) = (0, 0);
    for (id, dir) in recording_dirs(recordings) {
        let Ok(mut state) = read_state(&dir) else {
            continue;
        };
        if state.stop.is_some() {
            done += 1;
            continue;
        }
        active += 1;
        let before = state.segments.len();
        let stream_dir = live.join(&state.stream);
        let result = take_new(&mut state, &stream_dir, &dir).and_then(|()| {
            match state.segments.len() > before {
                true => write_state(&dir, &state),
                false => Ok(()),
            }
        });
        if let Err(e) = result {
            log::warn!("recording {id}: {e}");
        }
    }
    (active, done)
}

fn recording_dirs(recordings: &Path) -> Vec<(String, std::path::PathBuf)> {
    let Ok(items) = fs::read_dir(recordings) else {
        return Vec::new();
    };
    let mut out: Vec<_> = items
        .filter_map(Result::ok)
        .filter_map(|i| {
            let name = i.file_name().into_string().ok()?;
            (valid_id(&name) && i.path().join(STATE).is_file()).then(|| (name, i.path()))
        })
        .collect();
    out.sort();
    out
}

/// `index.m3u8` when there is one, else the first variant (a plain file name beside
/// it) of the first master in the stream's dir.
fn followed_playlist(stream_dir: &Path) -> Option<String> {
    if stream_dir.join(LIVE_PLAYLIST).is_file() {
        return Some(LIVE_PLAYLIST.to_string());
    }
    let mut names: Vec<String> = fs::read_dir(stream_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|i| i.file_name().into_string().ok())
        .filter(|n| n.ends_with(".m3u8") && playlist::plain_file_name(n))
        .collect();
    names.sort();
    names.iter().find_map(|name| {
        let list = playlist::parse(&fs::read_to_string(stream_dir.join(name)).ok()?)?;
        list.variants
            .into_iter()
            .find(|v| playlist::plain_file_name(v) && stream_dir.join(v).is_file())
    })
}

/// Links the live playlist's segments that lie within the recording's times and
/// were not taken yet. A segment's file was renamed into place by nginx when its
/// upload ended, so its mtime is its end on the wall clock.
fn take_new(state: &mut State, stream_dir: &Path, dir: &Path) -> io::Result<()> {
    let text = match fs::read_to_string(stream_dir.join(&state.playlist)) {
        Ok(t) => t,
        // Between a publisher's restart and its first playlist: nothing new.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(list) = playlist::parse(&text) else {
        return Ok(());
    };
    for seg in &list.segments {
        if !playlist::plain_file_name(&seg.uri) || seg.uri.ends_with(".m3u8") {
            continue;
        }
        let source = stream_dir.join(&seg.uri);
        let meta = match fs::metadata(&source) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let key = (meta.dev(), meta.ino());
        if state.taken.contains(&key) {
            continue;
        }
        let end = unix_secs(meta.modified()?);
        let begin = end - seg.duration;
        if end <= state.from || state.stop.is_some_and(|stop| begin >= stop) {
            continue;
        }
        let extension = seg.uri.rsplit_once('.').map(|(_, e)| e).unwrap_or("ts");
        let name = format!("seg{}.{extension}", state.segments.len());
        let target = dir.join(&name);
        match fs::hard_link(&source, &target) {
            Ok(()) => {}
            // Deleted by the publisher since the stat: lost to this recording.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        let restarted = state.last_sequence.is_some_and(|last| seg.sequence <= last);
        state.segments.push(RecordedSegment {
            name,
            duration: seg.duration,
            bytes: meta.len(),
            discontinuity: restarted || (seg.discontinuity && !state.segments.is_empty()),
        });
        state.taken.push(key);
        state.last_sequence = Some(seg.sequence);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            Command::parse(&["start", "s1", "--from", "-8s"]).unwrap(),
            Command::Start {
                stream: "s1".into(),
                from: Some("-8s".into())
            }
        );
        assert_eq!(Command::parse(&["list"]).unwrap(), Command::List);
        assert_eq!(
            Command::parse(&["stop", "s1-17"]).unwrap(),
            Command::Stop { id: "s1-17".into() }
        );
        for bad in [
            &["start", "../x"][..],
            &["start", "s1", "--from", "soon"],
            &["stop", "a/b"],
            &["delete", ".."],
            &["pause", "x"],
            &[],
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
        let c = Command::Start {
            stream: "s1".into(),
            from: Some("-8".into()),
        };
        assert_eq!(c.to_words(), "start s1 --from -8");
    }

    #[test]
    fn from_is_absolute_or_before_now() {
        assert_eq!(parse_from("-8s", 100.0), Ok(92.0));
        assert_eq!(parse_from("-8", 100.0), Ok(92.0));
        assert_eq!(parse_from("1700000000.5", 100.0), Ok(1_700_000_000.5));
        for bad in ["", "-", "-xs", "0", "-inf", "nan", "+-3"] {
            assert!(parse_from(bad, 100.0).is_err(), "{bad:?}");
        }
    }
}
