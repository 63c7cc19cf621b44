//! Whole-rendition packaging for tools without the JIT extensions (real Bento4).
//!
//! Bento4 numbers segments from 0 and writes its own playlist; we rename
//! `segment<i>.ts` → `segment<i+1>_0_av.ts`, write our playlist from its EXTINF
//! list, keep `--show-info` beside them for the master, and publish the dir.

use super::disk::{Disk, Scratch};
use super::{Packager, RenditionInfo};
use crate::entry::{self, Marker};
use crate::error::{Failure, ToolError};
use crate::playlist;
use crate::source::Source;
use crate::store::{EntryKind, SourceId};
use crate::tool::output::ShowInfo;
use crate::url::Rendition;
use std::os::fd::AsFd;
use std::path::Path;

/// `--show-info` of the packaging, kept for masters after a restart.
const INFO_FILE: &str = ".show-info.json";
const PLAYLIST: &str = "index_0_av.m3u8";

fn bad(what: String) -> Failure {
    Failure::Tool(ToolError::BadOutput(what))
}

/// Reads back what a previous whole packaging left in `dir`.
fn load(dir: &Path) -> Option<RenditionInfo> {
    let info: ShowInfo = serde_json::from_slice(&std::fs::read(dir.join(INFO_FILE)).ok()?).ok()?;
    let text = std::fs::read_to_string(dir.join(PLAYLIST)).ok()?;
    let durations = playlist::parse_media(&text)
        .ok()?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    Some(RenditionInfo {
        durations,
        keyframes: Vec::new(),
        info,
        ranges: Vec::new(),
        iframes: Vec::new(),
        pts_zero: None,
        cea608: None,
    })
}

impl Packager {
    /// The rendition dir holds a complete whole packaging.
    pub(super) async fn whole_is_there(&self, r: &Rendition) -> Result<bool, Failure> {
        let key = r.key.clone();
        self.disk
            .run(move |disk| {
                let dir = disk.cache.path_of(&key);
                dir.join(PLAYLIST).is_file() && dir.join(INFO_FILE).is_file()
            })
            .await
    }

    /// Packages the whole rendition unless a complete packaging of this very
    /// source is already in the cache. Runs inside the rendition's info flight.
    pub(super) async fn ensure_whole(
        &self,
        r: &Rendition,
        source: &Source,
    ) -> Result<RenditionInfo, Failure> {
        let _guard = self.cache.begin_fill(&r.key);
        let (key, id) = (r.key.clone(), source.id.clone());
        let kept = self
            .disk
            .run(move |disk| {
                let dir = disk.cache.path_of(&key);
                let marker_ok = entry::read_marker_in(&dir).is_ok_and(|m| m == Marker::Names(id));
                marker_ok.then(|| load(&dir)).flatten()
            })
            .await?;
        if let Some(info) = kept {
            return Ok(info);
        }
        // Real Bento4 reads the whole file: a remote one is downloaded whole first
        // (once: concurrent misses wait in this rendition's info flight).
        if let Some(remote) = source.remote.clone() {
            self.disk.run(move |_| remote.ensure_all()).await??;
        }
        // Real Bento4 exits 0 on garbage: ask mp4info first whether there is media.
        let probe = self.tools.probe(source.file.as_fd()).await?;
        if !probe.has_media() {
            return Err(Failure::Tool(ToolError::Corrupt(
                "no audio or video track".into(),
            )));
        }
        let scratch = self
            .disk
            .run(|disk| disk.cache.scratch_dir().map_err(Failure::cache))
            .await??;
        let scratch = Scratch::new(scratch, &self.disk.work);
        let info = self
            .tools
            .package_whole(
                source.file.as_fd(),
                self.config.segment_duration,
                scratch.path(),
            )
            .await?;
        let (key, id) = (r.key.clone(), source.id.clone());
        let (info, added) = self
            .disk
            .run(move |disk| {
                let published = publish(disk, scratch.path(), &key, &id, info);
                scratch.remove();
                published
            })
            .await??;
        self.filled("whole", added);
        Ok(info)
    }
}

/// Renames Bento4's output to our names, adds our playlist, `--show-info` and the
/// marker, publishes the dir and records it (blocking).
fn publish(
    disk: &Disk,
    work: &Path,
    key: &str,
    id: &SourceId,
    info: ShowInfo,
) -> Result<(RenditionInfo, u64), Failure> {
    let text = std::fs::read_to_string(work.join("stream.m3u8"))
        .map_err(|e| bad(format!("mp42hls playlist: {e}")))?;
    let segments =
        playlist::parse_media(&text).map_err(|e| bad(format!("mp42hls playlist: {e}")))?;
    let mut durations = Vec::with_capacity(segments.len());
    for (i, (duration, uri)) in segments.iter().enumerate() {
        if *uri != format!("segment{i}.ts") {
            return Err(bad(format!("unexpected segment URI {uri:?} at {i}")));
        }
        std::fs::rename(
            work.join(uri),
            work.join(format!("segment{}_0_av.ts", i + 1)),
        )
        .map_err(|e| bad(format!("segment {i}: {e}")))?;
        durations.push(*duration);
    }
    std::fs::remove_file(work.join("stream.m3u8")).map_err(Failure::cache)?;
    let info_json = serde_json::to_vec(&info).map_err(|e| Failure::Internal(e.to_string()))?;
    std::fs::write(work.join(INFO_FILE), info_json).map_err(Failure::cache)?;
    entry::write_marker_into(work, id).map_err(Failure::cache)?;
    let text = playlist::media(&durations, 0);
    let text = disk.for_players(&format!("{key}/{PLAYLIST}"), &text);
    std::fs::write(work.join(PLAYLIST), text.as_bytes()).map_err(Failure::cache)?;
    let added = disk
        .cache
        .publish_dir(work, key, PLAYLIST)
        .map_err(Failure::cache)?;
    disk.record(key, EntryKind::Rendition, Some(id), added);
    Ok((
        RenditionInfo {
            durations,
            keyframes: Vec::new(),
            info,
            ranges: Vec::new(),
            iframes: Vec::new(),
            pts_zero: None,
            cea608: None,
        },
        added,
    ))
}
