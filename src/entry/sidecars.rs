//! The sidecars a rendition's subtitles were looked for at (`.sidecars`, beside its
//! marker): every path a lookup tried, with the size and mtime it found there or
//! nothing, so freshness notices a sidecar added, changed or removed after the
//! rendition was packaged, as it notices a changed MP4.

use super::SourceId;
use crate::cache::Cache;
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::Mutex;

/// The file's name in the rendition's dir (a dot name nginx never serves).
pub const SIDECARS: &str = ".sidecars";

/// What was at a path: its size and mtime in ns.
pub type Identity = (u64, i128);

/// One path a sidecar lookup tried and what was there: (size, mtime in ns), or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tried {
    /// Relative to the media root.
    pub path: String,
    pub found: Option<Identity>,
}

/// Serialises read-merge-write of every `.sidecars` (one worker writes them, rarely:
/// only when a lookup met a path or a state not recorded yet).
static WRITING: Mutex<()> = Mutex::new(());

fn read(cache: &Cache, key: &str) -> io::Result<Vec<Tried>> {
    match std::fs::read(cache.path_of(&format!("{key}/{SIDECARS}"))) {
        // A damaged file records nothing: the next lookup writes it again.
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Adds what a lookup in rendition `key` (packaged from `id`) found to its record,
/// marker first; returns the bytes added to the entry.
pub fn record(cache: &Cache, key: &str, id: &SourceId, looked: &[Tried]) -> io::Result<u64> {
    let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = read(cache, key)?;
    let before = all.clone();
    for l in looked {
        match all.iter_mut().find(|a| a.path == l.path) {
            Some(a) => a.found = l.found,
            None => all.push(l.clone()),
        }
    }
    if all == before {
        return Ok(0);
    }
    let text = serde_json::to_vec(&all).map_err(io::Error::other)?;
    let added = super::publish_marker(cache, key, id)?;
    Ok(added + cache.publish_bytes(&format!("{key}/{SIDECARS}"), &text)?)
}

/// Whether a path rendition `key` recorded now holds something else; `stat` says
/// what is there (`None`: the disk could not tell, which changes nothing).
pub fn changed(
    cache: &Cache,
    key: &str,
    stat: impl Fn(&str) -> Option<Option<Identity>>,
) -> io::Result<bool> {
    Ok(read(cache, key)?
        .iter()
        .any(|l| stat(&l.path).is_some_and(|now| now != l.found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_merges_and_notices_what_moved() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf()).unwrap();
        let id = SourceId {
            path: "a.mp4".into(),
            size: 1,
            mtime_ns: 2,
        };
        let at = |path: &str, found| Tried {
            path: path.into(),
            found,
        };
        let first = [at("a_en.vtt", None), at("a_en.srt", Some((10, 5)))];
        assert!(record(&cache, "i/a.mp4", &id, &first).unwrap() > 0);
        assert!(cache.path_of("i/a.mp4/.source").is_file(), "marker first");
        assert_eq!(record(&cache, "i/a.mp4", &id, &first[1..]).unwrap(), 0);
        record(&cache, "i/a.mp4", &id, &[at("a_fr.vtt", None)]).unwrap();
        assert_eq!(read(&cache, "i/a.mp4").unwrap().len(), 3);
        let on_disk = |path: &str| match path {
            "a_en.srt" => Some(Some((10, 5))),
            "a_fr.vtt" => None, // the disk cannot tell
            _ => Some(None),
        };
        assert!(!changed(&cache, "i/a.mp4", on_disk).unwrap());
        let added = |path: &str| match path {
            "a_en.vtt" => Some(Some((3, 4))),
            other => on_disk(other),
        };
        assert!(changed(&cache, "i/a.mp4", added).unwrap());
        let edited = |path: &str| match path {
            "a_en.srt" => Some(Some((11, 6))),
            _ => Some(None),
        };
        assert!(changed(&cache, "i/a.mp4", edited).unwrap());
        assert!(
            !changed(&cache, "i/b.mp4", edited).unwrap(),
            "nothing recorded"
        );
    }
}
