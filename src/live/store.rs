//! `record store ID --to PREFIX [--key REST]`: a stopped recording remuxed by ffmpeg
//! into one MP4 per rendition, each uploaded to the S3 source PREFIX and checked
//! there by a HEAD, then recorded in the recording's state (`Stored`). The local
//! recording stays; a failure records nothing.
//!
//! Names: one rendition is REST (default `recordings/<id>.mp4`), played at
//! `<url_prefix>/<PREFIX>/<REST>/master.m3u8`. N renditions are `<stem>_<n>.mp4`
//! beside it (n from 0, the recording's order, REST = `<stem>.mp4`), played as the
//! csmil `<url_prefix>/<PREFIX>/<dirs>/<stem>_,0,…,<N-1>,.mp4.csmil/master.m3u8`.
//!
//! The MP4s are written in the cache's scratch dir (same file system, never a name
//! nginx serves) and removed after the upload. The store runs as its own task (a
//! client hanging up does not stop it): file steps and the upload on the blocking
//! pool, ffmpeg spawned from the runtime (its parent-death signal follows the
//! spawning thread). `live.store_timeout_secs` bounds the whole; a stopping worker
//! ends it (ffmpeg killed, the upload stopped and a multipart one aborted).

use super::record::{self, Stored, StoredObject, Unstorable};
use super::{unix_secs, Live};
use crate::config::{Config, RemoteConfig, SourceConfig, SourceKind};
use crate::remote::upload::{PartSizes, S3Target, UploadError};
use crate::tool::ffmpeg::{self, RemuxError};
use crate::tool::RunLimits;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What a store needs of the config, taken when the worker starts.
#[derive(Debug, Clone)]
pub struct Settings {
    url_prefix: String,
    sources: Vec<SourceConfig>,
    remote: RemoteConfig,
    scratch: PathBuf,
    ffmpeg: PathBuf,
    timeout: Duration,
    memory_bytes: u64,
}

impl Settings {
    pub fn new(config: &Config) -> Settings {
        Settings {
            url_prefix: config.url_prefix.clone(),
            sources: config.sources.clone(),
            remote: config.remote.clone(),
            scratch: crate::cache::scratch_dir_of(&config.cache_root),
            ffmpeg: config.live.ffmpeg.clone(),
            timeout: Duration::from_secs(config.live.store_timeout_secs),
            memory_bytes: config.limits.tool_memory_bytes,
        }
    }

    /// The S3 source `prefix` as an upload target.
    fn target(&self, prefix: &str) -> Result<S3Target, StoreError> {
        let source = self
            .sources
            .iter()
            .find(|s| s.prefix == prefix)
            .ok_or_else(|| StoreError::UnknownSource(prefix.to_string()))?;
        if source.kind != SourceKind::S3 {
            return Err(StoreError::NotS3 {
                prefix: prefix.to_string(),
                kind: source.kind,
            });
        }
        let env = |name: &str| std::env::var(name).ok();
        S3Target::new(source, source.credentials(&env), &self.remote)
            .map_err(|why| StoreError::Source(format!("S3 source {prefix}: {why}")))
    }
}

#[derive(Debug)]
pub enum StoreError {
    Recording(Unstorable),
    /// Another store of the same recording is running.
    Busy(String),
    UnknownSource(String),
    NotS3 {
        prefix: String,
        kind: SourceKind,
    },
    Source(String),
    FfmpegMissing {
        configured: PathBuf,
        why: String,
    },
    /// The scratch dir, a concat script, the state.
    Io(String),
    Remux {
        rendition: usize,
        error: RemuxError,
    },
    Upload {
        object: String,
        error: UploadError,
    },
    TimedOut(u64),
    Stopping,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Recording(why) => write!(f, "{why}"),
            StoreError::Busy(id) => write!(f, "recording {id} is being stored already"),
            StoreError::UnknownSource(prefix) => write!(
                f,
                "no [[sources]] entry has prefix {prefix:?} (store needs a kind = \"s3\" one)"
            ),
            StoreError::NotS3 { prefix, kind } => write!(
                f,
                "source {prefix} is kind = \"{}\", not \"s3\": a recording is stored to an S3 source",
                format!("{kind:?}").to_lowercase()
            ),
            StoreError::Source(why) => f.write_str(why),
            StoreError::FfmpegMissing { configured, why } => write!(
                f,
                "ffmpeg {} not found ({why}): install ffmpeg or set live.ffmpeg",
                configured.display()
            ),
            StoreError::Io(why) => f.write_str(why),
            StoreError::Remux { rendition, error } => {
                write!(f, "remuxing rendition {rendition}: {error}")
            }
            StoreError::Upload { object, error } => write!(f, "uploading {object}: {error}"),
            StoreError::TimedOut(secs) => write!(
                f,
                "the store took longer than live.store_timeout_secs ({secs} s); nothing stored"
            ),
            StoreError::Stopping => f.write_str("the worker is stopping; nothing stored"),
        }
    }
}

impl std::error::Error for StoreError {}

/// REST when `--key` is not given.
pub fn default_rest(id: &str) -> String {
    format!("{}/{id}.mp4", record::RECORDINGS)
}

/// Each rendition's path under the prefix (pure): REST itself for one, else
/// `<stem>_<n>.mp4` beside it.
pub fn object_paths(rest: &str, renditions: usize) -> Vec<String> {
    if renditions == 1 {
        return vec![rest.to_string()];
    }
    let stem = rest.strip_suffix(".mp4").unwrap_or(rest);
    (0..renditions).map(|n| format!("{stem}_{n}.mp4")).collect()
}

/// The URL path the stored title plays at (pure): the title's master, or the
/// csmil master over its renditions.
pub fn play_url(url_prefix: &str, prefix: &str, rest: &str, renditions: usize) -> String {
    let base = format!("{}/{prefix}", url_prefix.trim_end_matches('/'));
    if renditions == 1 {
        return format!("{base}/{rest}/master.m3u8");
    }
    let stem = rest.strip_suffix(".mp4").unwrap_or(rest);
    let numbers: Vec<String> = (0..renditions).map(|n| n.to_string()).collect();
    format!(
        "{base}/{stem}_,{},.mp4.csmil/master.m3u8",
        numbers.join(",")
    )
}

/// The scratch files of one store; its claim on the recording ends with it.
struct Work {
    live: Arc<Live>,
    id: String,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Work {
    fn drop(&mut self) {
        self.live.end_store(&self.id);
    }
}

/// Runs one store; the answer is one line, `record: …` or `error: …`.
pub async fn store(live: Arc<Live>, id: String, to: String, key: Option<String>) -> String {
    let started = Instant::now();
    let result = run(&live, &id, &to, key).await;
    match result {
        Ok(answer) => {
            log::info!("record store {id}: {answer} in {:?}", started.elapsed());
            answer
        }
        Err(e) => {
            log::warn!("record store {id} to {to}: {e}");
            format!("error: {e}")
        }
    }
}

async fn run(
    live: &Arc<Live>,
    id: &str,
    to: &str,
    key: Option<String>,
) -> Result<String, StoreError> {
    let settings = live.store_settings().clone();
    let deadline = Instant::now() + settings.timeout;
    let target = settings.target(to)?;
    let rest = key.unwrap_or_else(|| default_rest(id));
    let (live2, id2, scratch) = (live.clone(), id.to_string(), settings.scratch.clone());
    let (ffmpeg, mut work, scripts, duration) =
        blocking(move || prepare(live2, &id2, &scratch, &settings.ffmpeg)).await??;
    let paths = object_paths(&rest, scripts.len());
    let outputs: Vec<PathBuf> = (0..scripts.len())
        .map(|n| scripts[n].with_extension("mp4"))
        .collect();
    let result = async {
        for (n, (script, out)) in scripts.iter().zip(&outputs).enumerate() {
            let timeout = deadline.saturating_duration_since(Instant::now());
            if timeout.is_zero() {
                return Err(StoreError::TimedOut(settings.timeout.as_secs()));
            }
            let limits = RunLimits {
                timeout,
                memory_bytes: settings.memory_bytes,
            };
            tokio::select! {
                done = ffmpeg::remux(&ffmpeg, script, out, limits) => done.map_err(|error| match error {
                    RemuxError::TimedOut(_) => StoreError::TimedOut(settings.timeout.as_secs()),
                    error => StoreError::Remux { rendition: n, error },
                })?,
                // Dropping the remux kills ffmpeg.
                () = live.stores_stopped() => return Err(StoreError::Stopping),
            }
        }
        let watched = live.clone();
        let (uploads, to_paths) = (outputs.clone(), paths.clone());
        let timeout = settings.timeout.as_secs();
        blocking(move || {
            let go_on = || !watched.stopping() && Instant::now() < deadline;
            let mut objects = Vec::new();
            for (file, path) in uploads.iter().zip(&to_paths) {
                let done = target
                    .upload(path, file, PartSizes::default(), &go_on)
                    .map_err(|error| match error {
                        UploadError::Stopped if watched.stopping() => StoreError::Stopping,
                        UploadError::Stopped => StoreError::TimedOut(timeout),
                        error => StoreError::Upload {
                            object: target.key(path),
                            error,
                        },
                    })?;
                objects.push(StoredObject {
                    key: done.key,
                    size: done.size,
                    etag: done.etag,
                });
            }
            Ok(objects)
        })
        .await?
    }
    .await;
    // Removing a large MP4 is file-system work too: on the blocking pool, with the claim.
    let dir = work.dir.take();
    let objects = blocking(move || {
        drop(dir);
        result
    })
    .await??;
    let url = play_url(&settings.url_prefix, to, &rest, paths.len());
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    let stored = Stored {
        prefix: to.to_string(),
        url: url.clone(),
        at: unix_secs(SystemTime::now()),
        objects,
    };
    let (live2, id2) = (live.clone(), id.to_string());
    blocking(move || live2.record_stored(&id2, stored))
        .await?
        .map_err(|e| StoreError::Io(format!("recording the store in {id}'s state: {e}")))?;
    drop(work);
    Ok(format!(
        "record: stored {id} ({} renditions, {duration:.1} s, {bytes} bytes) in {to} as {}; {url}",
        paths.len(),
        keys.join(", ")
    ))
}

/// The blocking first steps: ffmpeg found, the recording claimed and read, a scratch
/// dir with one concat script per rendition.
fn prepare(
    live: Arc<Live>,
    id: &str,
    scratch: &Path,
    configured: &Path,
) -> Result<(PathBuf, Work, Vec<PathBuf>, f64), StoreError> {
    let ffmpeg = which::which(configured).map_err(|e| StoreError::FfmpegMissing {
        configured: configured.to_path_buf(),
        why: e.to_string(),
    })?;
    let (files, duration) = live.begin_store(id)?;
    let mut work = Work {
        live,
        id: id.to_string(),
        dir: None,
    };
    let io = |what: &str, e: std::io::Error| StoreError::Io(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("store-")
        .tempdir_in(scratch)
        .map_err(|e| io("a scratch dir for the MP4", e))?;
    let mut scripts = Vec::new();
    for (n, rendition) in files.iter().enumerate() {
        let text = ffmpeg::concat_script(rendition).map_err(StoreError::Io)?;
        let script = dir.path().join(format!("rendition{n}.ffconcat"));
        std::fs::write(&script, text).map_err(|e| io("writing the concat script", e))?;
        scripts.push(script);
    }
    work.dir = Some(dir);
    Ok((ffmpeg, work, scripts, duration))
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(format!("store task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rendition_is_the_title_several_are_a_csmil() {
        let rest = default_rest("s1-17");
        assert_eq!(rest, "recordings/s1-17.mp4");
        assert_eq!(object_paths(&rest, 1), ["recordings/s1-17.mp4"]);
        assert_eq!(
            play_url("/i", "s3", &rest, 1),
            "/i/s3/recordings/s1-17.mp4/master.m3u8"
        );
        assert_eq!(
            object_paths("shows/ep1.mp4", 3),
            ["shows/ep1_0.mp4", "shows/ep1_1.mp4", "shows/ep1_2.mp4"]
        );
        let url = play_url("/i/", "s3", "shows/ep1.mp4", 3);
        assert_eq!(url, "/i/s3/shows/ep1_,0,1,2,.mp4.csmil/master.m3u8");
        // The origin's own URL grammar reads those objects' paths out of it.
        for (n, renditions) in [
            (1, &["s3/recordings/s1-17.mp4"][..]),
            (
                3,
                &[
                    "s3/shows/ep1_0.mp4",
                    "s3/shows/ep1_1.mp4",
                    "s3/shows/ep1_2.mp4",
                ],
            ),
        ] {
            let rest = if n == 1 {
                "recordings/s1-17.mp4"
            } else {
                "shows/ep1.mp4"
            };
            let url = play_url("/i", "s3", rest, n);
            let request = crate::url::parse(url.as_bytes(), "/i", 4096).expect("parses");
            let sources: Vec<&str> = request
                .container
                .renditions()
                .iter()
                .map(|r| r.source.as_str())
                .collect();
            assert_eq!(sources, renditions, "{url}");
            assert_eq!(request.resource, crate::url::Resource::Master);
            assert_eq!(
                object_paths(rest, n),
                renditions
                    .iter()
                    .map(|r| r.strip_prefix("s3/").unwrap_or(r))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn errors_name_what_to_fix() {
        let not_s3 = StoreError::NotS3 {
            prefix: "vod".into(),
            kind: SourceKind::Local,
        };
        assert!(
            not_s3.to_string().contains("vod is kind = \"local\""),
            "{not_s3}"
        );
        let missing = StoreError::FfmpegMissing {
            configured: "/opt/ffmpeg".into(),
            why: "cannot find binary path".into(),
        };
        assert!(missing.to_string().contains("live.ffmpeg"), "{missing}");
        let unknown = StoreError::UnknownSource("nope".into());
        assert!(unknown.to_string().contains("\"nope\""), "{unknown}");
    }
}
