//! Recordings of live streams: `<cache_root>/<url_prefix>/recordings/<id>/`, each
//! segment seen between start and stop hard-linked in (the publisher's DELETE and the
//! live sweep then remove only the live name), a VOD media playlist per rendition
//! (every variant of the live master is followed) and a master written at stop, so
//! nginx serves the recording like any cached title.
//!
//! State is a file in the recording's own dir (`.recording.json`, a dot name nginx
//! never serves), not sled: a recording is then one directory that is whole by
//! itself (delete the dir, the state goes with it), and `record list` needs no index.

mod command;

pub use command::{parse_from, valid_id, Command};

use super::playlist::{self, RecordedSegment};
use super::{unix_secs, write_atomically};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The recordings dir's name under the URL prefix's cache dir.
pub const RECORDINGS: &str = "recordings";
const STATE: &str = ".recording.json";
/// The live media playlist a recording follows: ffmpeg's usual output name, else
/// the first variant of the stream's master (several renditions: `-master_pl_name`).
const LIVE_PLAYLIST: &str = "index.m3u8";
pub const MEDIA_PLAYLIST: &str = "index_0_av.m3u8";
pub const MASTER_PLAYLIST: &str = "master.m3u8";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    id: String,
    stream: String,
    /// Unix seconds: segments that end after it are kept.
    from: f64,
    /// Unix seconds: set at stop; segments starting before it were kept.
    stop: Option<f64>,
    /// The first rendition followed (its fields at the top level: the state of a
    /// one-rendition recording reads as it did before several were followed).
    #[serde(flatten)]
    first: Followed,
    /// The live master's other renditions, in its order.
    #[serde(default)]
    more: Vec<Followed>,
    /// Where `record store` put it, one entry per place.
    #[serde(default)]
    stored: Vec<Stored>,
}

/// A recording uploaded by `record store` and checked there (a HEAD gave each size).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stored {
    /// The S3 source's prefix.
    pub prefix: String,
    /// The URL path the stored title plays at.
    pub url: String,
    /// Unix seconds of the check.
    pub at: f64,
    /// One object per rendition, in rendition order.
    pub objects: Vec<StoredObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// Why a recording cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unstorable {
    Unknown(String),
    Running(String),
    Empty(String),
    Unreadable { id: String, why: String },
}

impl std::fmt::Display for Unstorable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unstorable::Unknown(id) => write!(f, "no recording {id}"),
            Unstorable::Running(id) => {
                write!(
                    f,
                    "recording {id} is still running: `record stop {id}` first"
                )
            }
            Unstorable::Empty(id) => write!(f, "recording {id} has no segments"),
            Unstorable::Unreadable { id, why } => write!(f, "recording {id}: {why}"),
        }
    }
}

/// One live media playlist a recording follows, and what it took of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Followed {
    /// A file name in the stream's dir.
    playlist: String,
    /// Its `EXT-X-STREAM-INF` attributes in the live master, if it has one.
    #[serde(default)]
    live_attributes: Option<String>,
    /// Media sequence of the newest segment taken: a smaller one is a restart.
    last_sequence: Option<u64>,
    /// (device, inode) of every segment taken; its link keeps the inode ours.
    taken: Vec<(u64, u64)>,
    segments: Vec<RecordedSegment>,
}

impl Followed {
    fn new((playlist, live_attributes): (String, Option<String>)) -> Followed {
        Followed {
            playlist,
            live_attributes,
            last_sequence: None,
            taken: Vec::new(),
            segments: Vec::new(),
        }
    }
}

impl State {
    /// Every rendition followed, with its number N (its files' `_N`).
    fn renditions_mut(&mut self) -> impl Iterator<Item = (usize, &mut Followed)> {
        std::iter::once(&mut self.first)
            .chain(self.more.iter_mut())
            .enumerate()
    }

    fn renditions(&self) -> impl Iterator<Item = &Followed> {
        std::iter::once(&self.first).chain(self.more.iter())
    }

    fn segment_count(&self) -> usize {
        self.renditions().map(|f| f.segments.len()).sum()
    }
}

/// The VOD media playlist of rendition N (the first keeps its one-rendition name).
fn media_playlist_name(n: usize) -> String {
    match n {
        0 => MEDIA_PLAYLIST.to_string(),
        n => format!("index_{n}_av.m3u8"),
    }
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
        // Runs a subprocess and uploads: `live::store`, not a blocking step here.
        Command::Store { .. } => Err("`record store` is not answered here".into()),
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
    let mut followed = followed_playlists(&live.join(stream)).into_iter();
    let Some(first) = followed.next() else {
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
        from,
        stop: None,
        first: Followed::new(first),
        more: followed.map(Followed::new).collect(),
        stored: Vec::new(),
    };
    // At once: a `--from` in the past takes what the window still holds.
    take_new(&mut state, &live.join(stream), &dir).map_err(|e| e.to_string())?;
    write_state(&dir, &state).map_err(|e| e.to_string())?;
    Ok(format!(
        "record: started {id} (stream {stream}, from {from:.3}, {} renditions, {} segments so far)",
        1 + state.more.len(),
        state.first.segments.len()
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
    let names: Vec<String> = (0..=state.more.len()).map(media_playlist_name).collect();
    let variants: Vec<playlist::RecordedVariant> = state
        .renditions()
        .zip(&names)
        .map(|(f, uri)| playlist::RecordedVariant {
            uri,
            live_attributes: f.live_attributes.as_deref(),
            segments: &f.segments,
        })
        .collect();
    let master = playlist::master(&variants);
    state
        .renditions()
        .zip(&names)
        .try_for_each(|(f, name)| {
            write_atomically(&dir.join(name), playlist::vod(&f.segments).as_bytes())
        })
        .and_then(|()| write_atomically(&dir.join(MASTER_PLAYLIST), master.as_bytes()))
        .and_then(|()| write_state(&dir, &state))
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "record: stopped {id}: {} renditions, {} segments, {:.1} s",
        names.len(),
        state.first.segments.len(),
        playlist::duration(&state.first.segments)
    ))
}

fn list(recordings: &Path) -> Result<String, String> {
    let mut rows = Vec::new();
    for (id, dir) in recording_dirs(recordings) {
        match read_state(&dir) {
            Ok(s) => rows.push(format!(
                "{id} stream={} {} renditions={} segments={} duration={:.1}s{}",
                s.stream,
                if s.stop.is_some() {
                    "stopped"
                } else {
                    "recording"
                },
                1 + s.more.len(),
                s.first.segments.len(),
                playlist::duration(&s.first.segments),
                s.stored
                    .iter()
                    .map(|st| format!(
                        " stored={} ({} bytes)",
                        st.url,
                        st.objects.iter().map(|o| o.size).sum::<u64>()
                    ))
                    .collect::<String>()
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

/// What `record store` remuxes: each rendition's segment files, in order, and the
/// first rendition's duration. Only a stopped recording with segments.
pub fn store_inputs(recordings: &Path, id: &str) -> Result<(Vec<Vec<PathBuf>>, f64), Unstorable> {
    let dir = recordings.join(id);
    let state = match read_state(&dir) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Unstorable::Unknown(id.to_string()))
        }
        Err(e) => {
            return Err(Unstorable::Unreadable {
                id: id.to_string(),
                why: e.to_string(),
            })
        }
    };
    if state.stop.is_none() {
        return Err(Unstorable::Running(id.to_string()));
    }
    let files: Vec<Vec<PathBuf>> = state
        .renditions()
        .map(|f| f.segments.iter().map(|s| dir.join(&s.name)).collect())
        .collect();
    if files.iter().any(Vec::is_empty) {
        return Err(Unstorable::Empty(id.to_string()));
    }
    Ok((files, playlist::duration(&state.first.segments)))
}

/// Records a store in the recording's state; one to the same place replaces the older.
pub fn add_stored(recordings: &Path, id: &str, stored: Stored) -> io::Result<()> {
    let dir = recordings.join(id);
    let mut state = read_state(&dir)?;
    state
        .stored
        .retain(|s| (&s.prefix, &s.url) != (&stored.prefix, &stored.url));
    state.stored.push(stored);
    write_state(&dir, &state)
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
        let before = state.segment_count();
        let stream_dir = live.join(&state.stream);
        let result = take_new(&mut state, &stream_dir, &dir).and_then(|()| {
            match state.segment_count() > before {
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

/// `index.m3u8` when there is one, else every variant (a plain file name beside it,
/// with its attributes) of the first master in the stream's dir that has one.
fn followed_playlists(stream_dir: &Path) -> Vec<(String, Option<String>)> {
    if stream_dir.join(LIVE_PLAYLIST).is_file() {
        return vec![(LIVE_PLAYLIST.to_string(), None)];
    }
    let Ok(items) = fs::read_dir(stream_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = items
        .filter_map(Result::ok)
        .filter_map(|i| i.file_name().into_string().ok())
        .filter(|n| n.ends_with(".m3u8") && playlist::plain_file_name(n))
        .collect();
    names.sort();
    for name in names {
        let Some(list) = fs::read_to_string(stream_dir.join(&name))
            .ok()
            .and_then(|text| playlist::parse(&text))
        else {
            continue;
        };
        let variants: Vec<(String, Option<String>)> = list
            .variants
            .into_iter()
            .zip(list.variant_attributes)
            .filter(|(v, _)| playlist::plain_file_name(v) && stream_dir.join(v).is_file())
            .map(|(v, attributes)| (v, Some(attributes)))
            .collect();
        if !variants.is_empty() {
            return variants;
        }
    }
    Vec::new()
}

/// Every followed rendition takes what its live playlist lists anew.
fn take_new(state: &mut State, stream_dir: &Path, dir: &Path) -> io::Result<()> {
    let times = (state.from, state.stop);
    for (n, followed) in state.renditions_mut() {
        take_new_of(followed, n, times, stream_dir, dir)?;
    }
    Ok(())
}

/// Links the live playlist's segments that lie within the recording's times
/// (`from`, `stop`) and were not taken yet, as `seg<K>` (rendition 0) or
/// `seg<K>_<N>`. A segment's file was renamed into place by nginx when its upload
/// ended, so its mtime is its end on the wall clock.
fn take_new_of(
    followed: &mut Followed,
    n: usize,
    (from, stop): (f64, Option<f64>),
    stream_dir: &Path,
    dir: &Path,
) -> io::Result<()> {
    let text = match fs::read_to_string(stream_dir.join(&followed.playlist)) {
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
        if followed.taken.contains(&key) {
            continue;
        }
        let end = unix_secs(meta.modified()?);
        let begin = end - seg.duration;
        if end <= from || stop.is_some_and(|stop| begin >= stop) {
            continue;
        }
        let extension = seg.uri.rsplit_once('.').map(|(_, e)| e).unwrap_or("ts");
        let k = followed.segments.len();
        let name = match n {
            0 => format!("seg{k}.{extension}"),
            n => format!("seg{k}_{n}.{extension}"),
        };
        let target = dir.join(&name);
        match fs::hard_link(&source, &target) {
            Ok(()) => {}
            // Deleted by the publisher since the stat: lost to this recording.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        let restarted = followed
            .last_sequence
            .is_some_and(|last| seg.sequence <= last);
        followed.segments.push(RecordedSegment {
            name,
            duration: seg.duration,
            bytes: meta.len(),
            discontinuity: restarted || (seg.discontinuity && !followed.segments.is_empty()),
        });
        followed.taken.push(key);
        followed.last_sequence = Some(seg.sequence);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_of_one_rendition_reads_as_it_was_written_before() {
        let before = r#"{"id":"s1-17","stream":"s1","playlist":"index.m3u8","from":1.5,"stop":null,
            "last_sequence":3,"taken":[[1,2]],"segments":[{"name":"seg0.ts","duration":2.0,"bytes":9,"discontinuity":false}]}"#;
        let state: State = serde_json::from_str(before).unwrap();
        assert_eq!(state.first.playlist, "index.m3u8");
        assert_eq!(state.first.segments.len(), 1);
        assert!(state.more.is_empty() && state.first.live_attributes.is_none());
        let again: State = serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        assert_eq!(again, state);
        assert_eq!(media_playlist_name(0), MEDIA_PLAYLIST);
        assert_eq!(media_playlist_name(2), "index_2_av.m3u8");
    }

    #[test]
    fn only_a_stopped_recording_is_stored_and_each_place_is_recorded_once() {
        let root = tempfile::tempdir().unwrap();
        let (live, recordings) = (root.path().join("live"), root.path().join("rec"));
        fs::create_dir_all(live.join("s1")).unwrap();
        fs::create_dir_all(&recordings).unwrap();
        let playlist =
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nindex0.ts\n#EXTINF:2.0,\nindex1.ts\n";
        fs::write(live.join("s1/index.m3u8"), playlist).unwrap();
        for name in ["index0.ts", "index1.ts"] {
            fs::write(live.join("s1").join(name), [0x47u8; 188]).unwrap();
        }
        let now = SystemTime::now();
        let started = run(
            &Command::Start {
                stream: "s1".into(),
                from: Some("-60s".into()),
            },
            &live,
            &recordings,
            now,
        );
        let id = started.split_whitespace().nth(2).unwrap().to_string();
        assert_eq!(
            store_inputs(&recordings, &id),
            Err(Unstorable::Running(id.clone()))
        );
        assert_eq!(
            store_inputs(&recordings, "s1-1"),
            Err(Unstorable::Unknown("s1-1".into()))
        );
        run(&Command::Stop { id: id.clone() }, &live, &recordings, now);
        let (files, duration) = store_inputs(&recordings, &id).unwrap();
        let dir = recordings.join(&id);
        assert_eq!(files, [vec![dir.join("seg0.ts"), dir.join("seg1.ts")]]);
        assert_eq!(duration, 4.0);

        let stored = |url: &str, size| Stored {
            prefix: "s3".into(),
            url: url.into(),
            at: 1.0,
            objects: vec![StoredObject {
                key: "t/x.mp4".into(),
                size,
                etag: "\"e\"".into(),
            }],
        };
        add_stored(&recordings, &id, stored("/i/s3/a.mp4/master.m3u8", 10)).unwrap();
        add_stored(&recordings, &id, stored("/i/s3/b.mp4/master.m3u8", 20)).unwrap();
        // The same place again: the newer store replaces the older.
        add_stored(&recordings, &id, stored("/i/s3/a.mp4/master.m3u8", 30)).unwrap();
        let state = read_state(&dir).unwrap();
        let places: Vec<(&str, u64)> = state
            .stored
            .iter()
            .map(|s| (s.url.as_str(), s.objects[0].size))
            .collect();
        assert_eq!(
            places,
            [
                ("/i/s3/b.mp4/master.m3u8", 20),
                ("/i/s3/a.mp4/master.m3u8", 30)
            ]
        );
        let listed = list(&recordings).unwrap();
        assert!(
            listed.contains("stopped renditions=1 segments=2 duration=4.0s \
                 stored=/i/s3/b.mp4/master.m3u8 (20 bytes) stored=/i/s3/a.mp4/master.m3u8 (30 bytes)"),
            "{listed}"
        );
    }
}
