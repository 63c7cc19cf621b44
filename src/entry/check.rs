//! Whether an entry's files are whole. Fills do not fsync (ARCHITECTURE.md,
//! "Durability"), so after a crash or power cut a published name may hold a file
//! that is empty, short, or zeros at its end. Each kind of file we publish says by
//! its own format whether it is complete, so no per-file size needs recording:
//!
//! - a segment (`.ts`) is whole 188-byte packets, the first and the last starting
//!   with the sync byte 0x47 (a tail the disk never got reads as zeros);
//! - a playlist (`.m3u8`) starts with `#EXTM3U`, ends with a newline and has no NUL;
//!   a media playlist (`index_…`) ends with `#EXT-X-ENDLIST`;
//! - the `.source` marker parses; `.show-info.json` is JSON;
//! - a CMAF file (`.m4s`, `.mp4`, `.m4a`) is boxes ending exactly at its end; an MPD ends
//!   in `</MPD>` (`check::cmaf`);
//! - links are metadata only (a rename makes them whole or absent).
//!
//! A rendition directory also needs its marker. Anything else in an entry is not
//! ours to judge and is left to the sweep.

use super::{parse_marker, SOURCE_MARKER};
use crate::cache::Cache;
use crate::store::EntryKind;
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

mod cmaf;

const TS_PACKET: u64 = 188;
const TS_SYNC: u8 = 0x47;
/// Larger playlists are not ours (a 24-hour title at 2 s is about 2 MB).
const MAX_PLAYLIST_BYTES: u64 = 64 << 20;
const INFO_FILE: &str = ".show-info.json";

/// Why the entry at `key` cannot be served as it is, or None when it is whole.
pub fn damage(cache: &Cache, key: &str, kind: EntryKind) -> io::Result<Option<String>> {
    let dir = cache.path_of(key);
    let mut has_marker = false;
    let mut has_files = false;
    for item in fs::read_dir(&dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if item.file_type()?.is_dir() && name.starts_with('~') {
            // A query's tag dir (`url::query`): its files are judged like the entry's.
            if let Some(why) = tag_dir_damage(&item.path())? {
                return Ok(Some(format!("{name}/{why}")));
            }
            continue;
        }
        if !item.file_type()?.is_file() {
            continue;
        }
        has_files = true;
        has_marker |= name == SOURCE_MARKER;
        if let Some(why) = file_damage(&item.path(), name)? {
            return Ok(Some(format!("{name}: {why}")));
        }
    }
    if kind == EntryKind::Rendition && has_files && !has_marker {
        return Ok(Some(format!("{SOURCE_MARKER} is missing")));
    }
    Ok(None)
}

/// The first file of a tag dir that is not whole (symlinks, as csmil-relative
/// segments are, name files checked in their own entry).
fn tag_dir_damage(dir: &Path) -> io::Result<Option<String>> {
    for item in fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let (true, Some(name)) = (item.file_type()?.is_file(), name.to_str()) else {
            continue;
        };
        if let Some(why) = file_damage(&item.path(), name)? {
            return Ok(Some(format!("{name}: {why}")));
        }
    }
    Ok(None)
}

/// Why the published file `path` (named `name`) is not whole, by its format.
pub fn file_damage(path: &Path, name: &str) -> io::Result<Option<&'static str>> {
    if name.ends_with(".ts") {
        return segment_damage(path);
    }
    if name.ends_with(".m4s") || name.ends_with(".mp4") || name.ends_with(".m4a") {
        return cmaf::boxes_damage(&fs::File::open(path)?);
    }
    if name.ends_with(".mpd") {
        let file = fs::File::open(path)?;
        if file.metadata()?.len() > MAX_PLAYLIST_BYTES {
            return Ok(Some("too large"));
        }
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut &file, &mut bytes)?;
        return Ok(cmaf::mpd_damage(&bytes));
    }
    let text_kind = name.ends_with(".m3u8") || name == SOURCE_MARKER || name == INFO_FILE;
    if !text_kind {
        return Ok(None);
    }
    let file = fs::File::open(path)?;
    if file.metadata()?.len() > MAX_PLAYLIST_BYTES {
        return Ok(Some("too large"));
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut &file, &mut bytes)?;
    Ok(text_damage(name, &bytes))
}

fn segment_damage(path: &Path) -> io::Result<Option<&'static str>> {
    let file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 || len % TS_PACKET != 0 {
        return Ok(Some("not whole transport stream packets"));
    }
    for at in [0, len - TS_PACKET] {
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, at)?;
        if byte[0] != TS_SYNC {
            return Ok(Some("a packet without its sync byte"));
        }
    }
    Ok(None)
}

/// The verdict on a small file's bytes (pure).
pub fn text_damage(name: &str, bytes: &[u8]) -> Option<&'static str> {
    if name == SOURCE_MARKER {
        let text = std::str::from_utf8(bytes).ok();
        return text
            .and_then(parse_marker)
            .is_none()
            .then_some("unreadable");
    }
    if name == INFO_FILE {
        let parsed = serde_json::from_slice::<serde_json::Value>(bytes);
        return parsed.is_err().then_some("not JSON");
    }
    if !bytes.starts_with(b"#EXTM3U\n") || bytes.contains(&0) || !bytes.ends_with(b"\n") {
        return Some("not a whole playlist");
    }
    if name.starts_with("index_") && !bytes.ends_with(b"#EXT-X-ENDLIST\n") {
        return Some("a media playlist without its end");
    }
    None
}

#[cfg(test)]
mod tag_dir_tests {
    use super::*;

    #[test]
    fn a_short_playlist_in_a_tag_dir_is_damage() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(root.path().to_path_buf()).expect("cache");
        let key = "i/x.mp4";
        let tag_dir = cache.path_of(key).join("~start12~end40");
        fs::create_dir_all(&tag_dir).expect("tag dir");
        let whole = "#EXTM3U\n#EXTINF:6.000000,\nsegment3_0_av.ts\n#EXT-X-ENDLIST\n";
        fs::write(tag_dir.join("index_0_av.m3u8"), whole).expect("write");
        assert_eq!(damage(&cache, key, EntryKind::Master).expect("check"), None);
        fs::write(tag_dir.join("index_0_av.m3u8"), &whole[..30]).expect("write");
        let why = damage(&cache, key, EntryKind::Master).expect("check");
        assert!(
            why.as_deref()
                .is_some_and(|w| w.starts_with("~start12~end40/index_0_av.m3u8")),
            "{why:?}"
        );
    }
}
