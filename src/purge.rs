//! `casterpak purge PATH|PREFIX`: removes the packaging of a title, a csmil, or a whole
//! tree at once, as evictions (each entry renamed away, then deleted, its index row
//! dropped: `entry::evict_and_forget`), with the csmil masters that list a purged
//! rendition. Like the sweep it asks the running worker over the control socket
//! (`purge <path>`) and opens the database itself only when no worker answers.
//!
//! Entries being filled or answered for within `cache::ANSWER_GRACE` (nginx may be
//! about to open a file it was redirected to) are retried until they are idle, so a
//! purge never answers a client 503 and never leaves half an entry: what a fill
//! publishes after the purge took the entry is a whole new entry, refilled on demand.

use crate::cache::{Cache, SweepEviction};
use crate::config::{Config, EncryptionConfig};
use crate::control::{self, ControlClientError, ControlRequest};
use crate::entry::{self, Spare};
use crate::store::{EntryKind, Store, StoreError};
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

/// How long busy or just-answered entries are retried before the purge gives up on them.
const RETRY_FOR: Duration = Duration::from_secs(30);
const RETRY_EVERY: Duration = Duration::from_millis(100);
const CONTROL_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// What a purge names, as cache keys (the URL path without its leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// An entry, an entry holding this file, or every entry below this directory.
    Path(String),
    /// Every entry whose key starts with this text (`/i/clip_*`, `/i/dir/`).
    Prefix(String),
}

impl Selector {
    /// Parses an operator's URL path (pure). `…/` and `…*` are prefixes.
    pub fn parse(path: &str) -> Result<Selector, String> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err("a purge path starts with '/'".into());
        };
        let bad = rest.contains('\0')
            || rest.contains('\n')
            || rest.split('/').any(|c| c == "." || c == "..")
            || rest.contains("//");
        if bad {
            return Err("a purge path has no '.', '..' or empty components".into());
        }
        Ok(match rest.strip_suffix('*') {
            Some(prefix) => Selector::Prefix(prefix.to_string()),
            None if rest.is_empty() || rest.ends_with('/') => Selector::Prefix(rest.to_string()),
            None => Selector::Path(rest.to_string()),
        })
    }

    fn covers(&self, key: &str) -> bool {
        let inside = |outer: &str, inner: &str| {
            inner
                .strip_prefix(outer)
                .is_some_and(|tail| tail.starts_with('/'))
        };
        match self {
            Selector::Path(p) => key == p || inside(p, key) || inside(key, p),
            Selector::Prefix(p) => key.starts_with(p.as_str()) || inside(key, p),
        }
    }
}

/// The keys a purge takes among `keys` (pure): those the selector covers, and the csmil
/// masters listing a rendition it covers (their variants would name what went).
pub fn select(selector: &Selector, keys: &BTreeSet<String>) -> Vec<String> {
    let chosen: BTreeSet<String> = keys
        .iter()
        .filter(|k| selector.covers(k))
        .cloned()
        .collect();
    let renditions: HashSet<String> = chosen
        .iter()
        .filter(|k| crate::store::kind_of_key(k) == EntryKind::Rendition)
        .cloned()
        .collect();
    let masters = keys
        .iter()
        .filter(|k| crate::store::kind_of_key(k) == EntryKind::Master)
        .map(String::as_str);
    let listing = entry::masters_listing(masters, &renditions);
    chosen
        .into_iter()
        .chain(listing)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Debug)]
pub enum PurgeError {
    Store(StoreError),
    /// The cache tree could not be walked (after retries).
    Walk(String),
}

impl std::fmt::Display for PurgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PurgeError::Store(e) => write!(f, "{e}"),
            PurgeError::Walk(e) => write!(f, "walking the cache: {e}"),
        }
    }
}

impl std::error::Error for PurgeError {}

impl From<StoreError> for PurgeError {
    fn from(e: StoreError) -> Self {
        PurgeError::Store(e)
    }
}

/// What a purge did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub evicted: Vec<String>,
    pub bytes: u64,
    /// Still busy or answered for when the retries ran out.
    pub kept: Vec<String>,
    pub failed: Vec<String>,
}

impl PurgeReport {
    pub fn summary(&self) -> String {
        let mut line = format!(
            "purge: {} entries evicted, {}",
            self.evicted.len(),
            crate::sweep::human_bytes(self.bytes)
        );
        if !self.kept.is_empty() {
            line.push_str(&format!(", {} kept (busy) FAILED", self.kept.len()));
        }
        if !self.failed.is_empty() {
            line.push_str(&format!(", {} FAILED", self.failed.len()));
        }
        for key in &self.evicted {
            line.push_str(" /");
            line.push_str(key);
        }
        line
    }
}

/// Purges with an open store and cache (blocking: walks the tree, renames, deletes).
pub fn run(store: &Store, cache: &Cache, selector: &Selector) -> Result<PurgeReport, PurgeError> {
    let mut keys: BTreeSet<String> = store.entries()?.into_iter().map(|(k, _)| k).collect();
    keys.extend(entries_on_disk(cache)?);
    let mut pending = select(selector, &keys);
    let mut report = PurgeReport::default();
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        let mut again = Vec::new();
        for key in pending {
            match entry::evict_and_forget(cache, Some(store), &key, Spare::Answered) {
                Ok(SweepEviction::Evicted(bytes)) => {
                    report.bytes = report.bytes.saturating_add(bytes);
                    report.evicted.push(key);
                }
                Ok(SweepEviction::Absent) => report.evicted.push(key),
                Ok(SweepEviction::Busy | SweepEviction::Answered) => again.push(key),
                Err(e) => {
                    log::error!("purge: evicting {key}: {e}");
                    report.failed.push(key);
                }
            }
        }
        if again.is_empty() || Instant::now() >= deadline {
            report.kept = again;
            break;
        }
        pending = again;
        std::thread::sleep(RETRY_EVERY);
    }
    store.flush()?;
    Ok(report)
}

/// The entry keys on disk. Fills running meanwhile rename files under the walk, which
/// can make one pass fail on a name that just went: walk again.
fn entries_on_disk(cache: &Cache) -> Result<Vec<String>, PurgeError> {
    let mut last = None;
    for _ in 0..5 {
        match crate::sweep::reconcile::walk_cache(cache.root()) {
            Ok(walk) => return Ok(walk.entries.into_iter().map(|e| e.key).collect()),
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(PurgeError::Walk(last.unwrap_or_default()))
}

/// The worker's answer to `purge <path>` on the control socket.
pub async fn control_answer(store: std::sync::Arc<Store>, cache: Cache, path: String) -> String {
    let selector = match Selector::parse(&path) {
        Ok(s) => s,
        Err(e) => return format!("error: {e}"),
    };
    match tokio::task::spawn_blocking(move || run(&store, &cache, &selector)).await {
        Ok(Ok(report)) => {
            log::info!("{}", report.summary());
            report.summary()
        }
        Ok(Err(e)) => format!("error: purge failed: {e}"),
        Err(e) => format!("error: purge task failed: {e}"),
    }
}

/// The purge path of `/_casterpak/purge?path=<percent-encoded path>` (pure): the `path`
/// parameter, percent-decoded, UTF-8.
pub fn path_from_query(query: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("path="))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().filter(|p| !p.is_empty())
}

/// `casterpak purge PATH`: prints one line, returns the exit code.
pub fn run_cli(config: &Config, path: &str) -> i32 {
    let selector = match Selector::parse(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("purge: {e}");
            return 2;
        }
    };
    let request = ControlRequest::Purge {
        path: path.to_string(),
    };
    let answer = match control::request(&config.control_socket, request, CONTROL_ANSWER_TIMEOUT) {
        Ok(answer) => answer,
        Err(ControlClientError::NotListening) => match local(config, &selector) {
            Ok(line) => line,
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("error: {e} ({})", config.control_socket.display()),
    };
    if !answer.starts_with("purge:") {
        eprintln!("{answer}");
        return 1;
    }
    println!("{answer}");
    i32::from(answer.contains("FAILED"))
}

/// At startup (blocking, before anything is answered): when the `[encryption]`
/// fingerprint differs from the one the cache's files were made under, purges every
/// title the old or the new paths cover, under every URL prefix. Otherwise nginx
/// would serve a title that became encrypted in the clear from its cached files, or
/// segments made under an old master key that no key served now opens. Records the
/// new fingerprint only once the purge is complete.
pub fn after_encryption_change(
    store: &Store,
    cache: &Cache,
    config: &Config,
) -> Result<(), String> {
    let now = config.encryption.fingerprint();
    let before = cache.encryption_mark().map_err(|e| e.to_string())?;
    if now == before {
        return Ok(());
    }
    let mut paths = EncryptionConfig::paths_of_fingerprint(&before);
    paths.extend(EncryptionConfig::paths_of_fingerprint(&now));
    paths.sort_unstable();
    paths.dedup();
    let formats = &config.formats;
    for prefix in [
        &config.url_prefix,
        &formats.cmaf_prefix,
        &formats.dash_prefix,
    ] {
        let prefix = prefix.trim_matches('/');
        for path in &paths {
            let key = [prefix, path.as_str()]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            purge_after_change(store, cache, &Selector::Path(key), "encryption")?;
        }
    }
    cache.set_encryption_mark(&now).map_err(|e| e.to_string())
}

/// At startup (blocking, before anything is answered): when the prefixes whose HLS
/// playlists carry the token as a variable (`[token_auth]` define propagation) differ
/// from those the cache's playlists were written for, purges what the old and the new
/// prefixes cover. Otherwise nginx would serve a playlist written the other way: URIs
/// without the token (refused) or with a `{$name}` no filter fills in. Records the new
/// prefixes only once the purge is complete.
pub fn after_token_variable_change(
    store: &Store,
    cache: &Cache,
    config: &Config,
) -> Result<(), String> {
    let now = config.token_auth.variable_prefixes();
    let mark = crate::cache::TOKEN_VARIABLE_MARK;
    let before_text = cache.mark(mark).map_err(|e| e.to_string())?;
    let before: Vec<String> = before_text.lines().map(str::to_string).collect();
    if now == before {
        return Ok(());
    }
    let mut prefixes: Vec<&String> = before.iter().chain(&now).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    for prefix in prefixes {
        let selector = Selector::Prefix(prefix.trim_start_matches('/').to_string());
        purge_after_change(store, cache, &selector, "token propagation")?;
    }
    cache
        .set_mark(mark, &now.join("\n"))
        .map_err(|e| e.to_string())
}

/// One start-up purge after a change of `what`: an error unless everything it covers
/// went (the change is recorded only after a complete purge).
fn purge_after_change(
    store: &Store,
    cache: &Cache,
    selector: &Selector,
    what: &str,
) -> Result<(), String> {
    let report = run(store, cache, selector).map_err(|e| e.to_string())?;
    if !report.failed.is_empty() || !report.kept.is_empty() {
        return Err(format!(
            "{what} changed and the purge of what it covers failed: {}",
            report.summary()
        ));
    }
    if !report.evicted.is_empty() {
        log::info!("{what} changed: {}", report.summary());
    }
    Ok(())
}

fn local(config: &Config, selector: &Selector) -> Result<String, String> {
    // The store first: holding its lock proves no worker uses this cache.
    let store = Store::open(&config.db_path).map_err(|e| e.to_string())?;
    let cache = Cache::new(config.cache_root.clone()).map_err(|e| e.to_string())?;
    run(&store, &cache, selector)
        .map(|r| r.summary())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    const CACHE: [&str; 6] = [
        "i/clip_low.mp4",
        "i/clip_medium.mp4",
        "i/clip_,low,medium,.mp4.csmil",
        "i/clip_,medium,.mp4.csmil",
        "i/dir/a.mp4",
        "i/dir2/b.mp4",
    ];

    #[test]
    fn the_http_form_decodes_its_path() {
        let q = |s: &str| path_from_query(s);
        assert_eq!(q("path=/i/a.mp4"), Some("/i/a.mp4".into()));
        assert_eq!(q("x=1&path=%2Fi%2Fclip_%2A"), Some("/i/clip_*".into()));
        assert_eq!(q("path=/i/caf%C3%A9+x.mp4"), Some("/i/café x.mp4".into()));
        for bad in ["", "path=", "path=%2", "path=%zz", "path=%ff", "other=/i/a"] {
            assert_eq!(q(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_paths_and_prefixes() {
        let p = |s: &str| Selector::parse(s);
        assert_eq!(p("/i/a.mp4"), Ok(Selector::Path("i/a.mp4".into())));
        assert_eq!(p("/i/dir/"), Ok(Selector::Prefix("i/dir/".into())));
        assert_eq!(p("/i/clip_*"), Ok(Selector::Prefix("i/clip_".into())));
        assert_eq!(p("/"), Ok(Selector::Prefix(String::new())));
        for bad in ["i/a.mp4", "/i/../x", "/i/./x", "/i//x", "/i/a\nb", ""] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_title_takes_the_masters_listing_it() {
        let all = keys(&CACHE);
        let pick = |s: &str| select(&Selector::parse(s).unwrap(), &all);
        assert_eq!(
            pick("/i/clip_low.mp4"),
            ["i/clip_,low,medium,.mp4.csmil", "i/clip_low.mp4"]
        );
        // A file inside the entry names the entry.
        assert_eq!(
            pick("/i/clip_low.mp4/segment3_0_av.ts"),
            pick("/i/clip_low.mp4")
        );
        assert_eq!(
            pick("/i/clip_,medium,.mp4.csmil/master.m3u8"),
            ["i/clip_,medium,.mp4.csmil"]
        );
        assert_eq!(pick("/i/dir"), ["i/dir/a.mp4"]);
        assert_eq!(pick("/i/dir*"), ["i/dir/a.mp4", "i/dir2/b.mp4"]);
        assert_eq!(pick("/i/clip_*").len(), 4);
        assert_eq!(pick("/").len(), CACHE.len());
        assert!(pick("/i/clip_lo").is_empty(), "a path is not a prefix");
    }
}
