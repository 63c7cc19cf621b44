//! Misses under the CMAF HLS and DASH prefixes: parsed by `url::cmaf`, counted and
//! guarded like TS misses, filled by `Packager::handle_cmaf`.

use super::State;
use crate::config::Config;
use crate::error::{Failure, UrlError};
use crate::packager::Answer;
use crate::url::cmaf::{self, Request, Resource};

/// The CMAF or DASH request `raw` is, if it lies under either prefix.
pub fn parse(raw: &[u8], config: &Config) -> Option<Result<Request, UrlError>> {
    cmaf::parse(
        raw,
        &config.formats.cmaf_prefix,
        &config.formats.dash_prefix,
        config.limits.max_uri_bytes,
    )
}

/// The cache keys a hit on `raw` keeps warm, when it is a CMAF or DASH URL.
pub fn keys_for_hit(raw: &[u8], config: &Config) -> Option<Vec<String>> {
    parse(raw, config).map(|parsed| parsed.map(|r| r.entry_keys()).unwrap_or_default())
}

/// (kind for metrics and the log, cache key, outcome) of one miss.
pub async fn miss(
    state: &State,
    uri: &[u8],
    parsed: Result<Request, UrlError>,
) -> (&'static str, String, Result<Answer, Failure>) {
    let request = match parsed {
        Ok(request) => request,
        Err(e) => {
            let uri = String::from_utf8_lossy(uri).into_owned();
            return ("invalid", uri, Err(Failure::Url(e)));
        }
    };
    let kind = match request.resource {
        Resource::Master => "master",
        Resource::Manifest => "manifest",
        Resource::MediaPlaylist(_) => "playlist",
        Resource::IFramePlaylist => "iframes",
        Resource::Subtitles { .. } | Resource::SubtitleText(_) => "subtitles",
        Resource::Init(_) => "init",
        Resource::Segment(..) => "segment",
    };
    state.packager.cache().mark_answered(&request.entry_keys());
    state
        .metrics
        .inc("casterpak_misses_total", &[("kind", kind)]);
    let outcome = if state.disk.allows_fill() {
        state.packager.handle_cmaf(&request).await
    } else {
        Err(Failure::LowDiskSpace)
    };
    (kind, request.file_key, outcome)
}
