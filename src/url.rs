//! Request URIs → typed requests (pure, no I/O).
//!
//! nginx hands us `REQUEST_URI` raw: percent-encoded, maybe with a query. We decode
//! each path component to bytes ourselves and refuse anything that could name a file
//! outside the roots (`.`/`..` before or after decoding, `%2f`, NUL, backslash, `//`)
//! or is not UTF-8, so every path that leaves this module is a plain relative path.
//!
//! Each cached file has one spelling: a csmil list with empty elements
//! (`p_,,lo,,.mp4.csmil`) is not parsed but answered with a redirect to its canonical
//! form (`screen`), and `limits.max_uri_bytes` bounds the path, which names the cached
//! file, not the query (which nginx bounds the same way for hits and misses).

use crate::error::UrlError;

pub mod cmaf;
pub mod query;

/// What is asked of a container (a rendition dir or a csmil dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Master,
    MediaPlaylist,
    /// `iframes_<N>_av.m3u8`: the keyframes of the media playlist's segments.
    IFramePlaylist,
    /// Segment number K, starting at 1.
    Segment(u64),
    /// `aes128.key`: an encrypted title's AES-128 key (single renditions only; a
    /// csmil's playlists name each rendition's own).
    Key,
    /// `subtitles_<lang>.m3u8` / `subtitles_<lang>_<K>.vtt`: a sidecar's playlist or
    /// its WebVTT segment K (from 1); `subtitles_t<ID>…`: those of the MP4's timed text
    /// track ID (single renditions only, as keys).
    Subtitles {
        of: SubtitleSource,
        segment: Option<u64>,
    },
}

/// Where a subtitle rendition's cues come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubtitleSource {
    /// The sidecar file of this language.
    Sidecar(String),
    /// The title's own timed text (`tx3g`) track of this id.
    Track(u32),
}

impl SubtitleSource {
    /// What its file names carry after `subtitles_`: the language, or `t<ID>`.
    pub fn stem(&self) -> String {
        match self {
            SubtitleSource::Sidecar(language) => language.clone(),
            SubtitleSource::Track(id) => format!("t{id}"),
        }
    }
}

/// Which elementary streams a media playlist or segment carries, from the suffix of
/// its name: `_av` muxed (the default, the only one of a title with one audio
/// track), `_v` the video alone and `_a<T>` audio track T alone (a title with
/// alternate audio: its variants list `_v`, its audio renditions `_a<T>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Muxed,
    Video,
    Audio(u32),
}

impl Stream {
    /// The name suffix, `av`, `v` or `a<T>`.
    pub fn suffix(&self) -> String {
        match self {
            Stream::Muxed => "av".into(),
            Stream::Video => "v".into(),
            Stream::Audio(t) => format!("a{t}"),
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Stream> {
        match text {
            "av" => Some(Stream::Muxed),
            "v" => Some(Stream::Video),
            _ => {
                let t = number(text.strip_prefix('a')?)?;
                u32::try_from(t).ok().filter(|&t| t > 0).map(Stream::Audio)
            }
        }
    }
}

/// The key file's name in a rendition's URL dir.
pub const KEY_FILE: &str = "aes128.key";

/// One source MP4 and the cache dir its packaging lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Path relative to `media_root`, e.g. `a/b.mp4`.
    pub source: String,
    /// Cache key (dir relative to the cache root), e.g. `i/a/b.mp4`.
    pub key: String,
    /// Last component of both, e.g. `b.mp4`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// `<path>.mp4/…`
    Single(Rendition),
    /// `<dir>/<prefix>,<a>,…,<suffix>.csmil/…`: renditions in URL order.
    Csmil {
        key: String,
        renditions: Vec<Rendition>,
    },
}

impl Container {
    /// The cache key of the container dir.
    pub fn key(&self) -> &str {
        match self {
            Container::Single(r) => &r.key,
            Container::Csmil { key, .. } => key,
        }
    }

    /// Its renditions, in URL order.
    pub fn renditions(&self) -> &[Rendition] {
        match self {
            Container::Single(r) => std::slice::from_ref(r),
            Container::Csmil { renditions, .. } => renditions,
        }
    }

    /// MSOD's media identifier of a csmil, which its sidecars are named after: its
    /// common prefix without the trailing separator (`video_,lo,hi,.mp4.csmil` →
    /// `video`); `None` for a single rendition or an empty prefix.
    pub fn csmil_identifier(&self) -> Option<&str> {
        let Container::Csmil { key, .. } = self else {
            return None;
        };
        let name = key.rsplit('/').next().unwrap_or(key);
        let prefix = name.split(',').next().unwrap_or_default();
        let identifier = prefix.strip_suffix(['_', '-', '.']).unwrap_or(prefix);
        Some(identifier).filter(|i| !i.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub container: Container,
    pub resource: Resource,
    /// Rendition index N from the file name (always 0 for a single rendition).
    pub index: usize,
    /// The streams a media playlist or segment carries (`Muxed` for anything else).
    pub stream: Stream,
    /// Cache-relative path of the requested file, e.g. `i/a/b.mp4/segment3_0_av.ts`;
    /// with a query, in the dir its tag names: `i/a/b.mp4/~start12/index_0_av.m3u8`.
    pub file_key: String,
    /// The query features that name this resource's file (`Query::scoped`).
    pub query: query::Query,
}

impl Request {
    /// The cache entries answering this request reads: the container's, and for a
    /// csmil playlist or segment also the rendition it reads from.
    pub fn entry_keys(&self) -> Vec<String> {
        let mut keys = vec![self.container.key().to_string()];
        if let (Container::Csmil { .. }, Some(r)) = (&self.container, self.rendition()) {
            keys.push(r.key.clone());
        }
        keys
    }

    /// The rendition the file name's N designates (`None` for a master).
    pub fn rendition(&self) -> Option<&Rendition> {
        match (&self.resource, &self.container) {
            (Resource::Master, _) => None,
            (_, Container::Single(r)) => Some(r),
            (_, Container::Csmil { renditions, .. }) => renditions.get(self.index),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` escapes decoded; `None` on a broken one.
fn percent_decoded(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let hi = raw.get(i + 1).copied().and_then(hex)?;
            let lo = raw.get(i + 2).copied().and_then(hex)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes one raw path component and checks it names a plain file or dir.
fn decode_component(raw: &[u8]) -> Result<String, UrlError> {
    if raw.is_empty() {
        return Err(UrlError::EmptyComponent);
    }
    let out = percent_decoded(raw).ok_or(UrlError::BadPercent)?;
    for &b in &out {
        match b {
            b'/' => return Err(UrlError::EncodedSlash),
            0 => return Err(UrlError::Nul),
            b'\\' => return Err(UrlError::Backslash),
            1..=0x1f | 0x7f => return Err(UrlError::Control),
            _ => {}
        }
    }
    let text = String::from_utf8(out).map_err(|_| UrlError::NotUtf8)?;
    if text == "." || text == ".." {
        return Err(UrlError::DotComponent);
    }
    Ok(text)
}

/// `(path, query)` of a raw URI; the query without its `?`.
fn split_query(raw: &[u8]) -> (&[u8], Option<&[u8]>) {
    match raw.iter().position(|&b| b == b'?') {
        Some(q) => (
            raw.get(..q).unwrap_or_default(),
            Some(raw.get(q + 1..).unwrap_or_default()),
        ),
        None => (raw, None),
    }
}

/// Splits a raw URI (query dropped) into decoded components. Only the path counts
/// against `max_bytes`: it names the cached file, so a hit could never be longer than
/// a miss; the query is ignored for caching and bounded by nginx's request line limit
/// (`large_client_header_buffers`, 414), the same for hits and misses.
fn components(raw: &[u8], max_bytes: usize) -> Result<Vec<String>, UrlError> {
    let (path, _query) = split_query(raw);
    if path.len() > max_bytes {
        return Err(UrlError::TooLong);
    }
    let rest = path.strip_prefix(b"/").ok_or(UrlError::NotAbsolute)?;
    rest.split(|&b| b == b'/').map(decode_component).collect()
}

/// Parses a segment/rendition number: decimal digits, no sign, no leading zero
/// (so each file has exactly one name in the cache).
fn number(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// `master.m3u8` / `index_<N>_<S>.m3u8` / `iframes_<N>_av.m3u8` / `segment<K>_<N>_<S>.ts`
/// (S: `av`, `v` or `a<T>`) → (resource, N, stream).
fn file_name(name: &str) -> Result<(Resource, usize, Stream), UrlError> {
    let stream = |s: &str| Stream::parse(s).ok_or(UrlError::UnknownResource);
    let (resource, index) = match stream_less_name(name)? {
        Named::Other(resource, index) => return Ok((resource, index, Stream::Muxed)),
        Named::Playlist(n, s) => (Resource::MediaPlaylist, (n, stream(s)?)),
        Named::Segment(k, n, s) => (Resource::Segment(k), (n, stream(s)?)),
    };
    Ok((resource, index.0, index.1))
}

enum Named<'a> {
    Other(Resource, usize),
    /// `index_<N>_<S>.m3u8`: N and S.
    Playlist(usize, &'a str),
    /// `segment<K>_<N>_<S>.ts`: K, N and S.
    Segment(u64, usize, &'a str),
}

fn stream_less_name(name: &str) -> Result<Named<'_>, UrlError> {
    let index = |n: &str| {
        number(n)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(UrlError::UnknownResource)
    };
    if name == "master.m3u8" {
        return Ok(Named::Other(Resource::Master, 0));
    }
    if name == KEY_FILE {
        return Ok(Named::Other(Resource::Key, 0));
    }
    if let Some(named) = subtitle_file(name) {
        let (of, segment) = named?;
        return Ok(Named::Other(Resource::Subtitles { of, segment }, 0));
    }
    if let Some(n) = name
        .strip_prefix("iframes_")
        .and_then(|s| s.strip_suffix("_av.m3u8"))
    {
        return Ok(Named::Other(Resource::IFramePlaylist, index(n)?));
    }
    if let Some(ns) = name
        .strip_prefix("index_")
        .and_then(|s| s.strip_suffix(".m3u8"))
    {
        let (n, s) = ns.split_once('_').ok_or(UrlError::UnknownResource)?;
        return Ok(Named::Playlist(index(n)?, s));
    }
    if let Some(kns) = name
        .strip_prefix("segment")
        .and_then(|s| s.strip_suffix(".ts"))
    {
        let mut parts = kns.splitn(3, '_');
        let (Some(k), Some(n), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(UrlError::UnknownResource);
        };
        let k = number(k)
            .filter(|&k| k >= 1)
            .ok_or(UrlError::UnknownResource)?;
        return Ok(Named::Segment(k, index(n)?, s));
    }
    Err(UrlError::UnknownResource)
}

fn is_rendition_name(name: &str) -> bool {
    name.len() > ".mp4".len() && name.ends_with(".mp4")
}

/// A csmil list name split by the one grammar every caller uses:
/// `<prefix>,<e1>,…,<en>,<suffix>.csmil` (prefix and suffix may be empty, so may
/// elements). `None` when `name` does not end in `.csmil` or has no comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsmilList<'a> {
    pub prefix: &'a str,
    /// As written, empty ones included (the canonical spelling has none).
    pub elements: Vec<&'a str>,
    pub suffix: &'a str,
}

impl<'a> CsmilList<'a> {
    pub fn parse(name: &'a str) -> Option<CsmilList<'a>> {
        let list = name.strip_suffix(".csmil")?;
        let parts: Vec<&str> = list.split(',').collect();
        let (prefix, rest) = parts.split_first()?;
        let (suffix, elements) = rest.split_last()?;
        Some(CsmilList {
            prefix,
            elements: elements.to_vec(),
            suffix,
        })
    }

    fn has_empty_elements(&self) -> bool {
        self.elements.iter().any(|e| e.is_empty())
    }

    /// The file names the non-empty elements stand for: `p_` + `lo` + `.mp4`.
    pub fn file_names(&self) -> impl Iterator<Item = String> + '_ {
        self.elements
            .iter()
            .filter(|e| !e.is_empty())
            .map(|e| format!("{}{e}{}", self.prefix, self.suffix))
    }
}

/// The rendition keys a csmil master key lists: `i/a/p_,lo,hi,.mp4.csmil` →
/// `i/a/p_lo.mp4`, `i/a/p_hi.mp4` (empty elements skipped). None when the name is
/// not a csmil list or lists nothing.
pub fn csmil_rendition_keys(master_key: &str) -> Option<Vec<String>> {
    let (dir, name) = match master_key.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, master_key),
    };
    let keys: Vec<String> = CsmilList::parse(name)?
        .file_names()
        .map(|file| match dir {
            Some(dir) => format!("{dir}/{file}"),
            None => file,
        })
        .collect();
    if keys.is_empty() {
        None
    } else {
        Some(keys)
    }
}

/// A csmil list name without its empty elements (`p_,,lo,,.mp4.csmil` →
/// `p_,lo,.mp4.csmil`): `None` when `name` is no csmil list or has none.
fn csmil_without_empty_elements(name: &str) -> Option<String> {
    let list = CsmilList::parse(name)?;
    if !list.has_empty_elements() {
        return None;
    }
    let mut kept = vec![list.prefix];
    kept.extend(list.elements.iter().filter(|e| !e.is_empty()));
    kept.push(list.suffix);
    Some(format!("{}.csmil", kept.join(",")))
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses `REQUEST_URI` bytes under `url_prefix` (e.g. "/i").
pub fn parse(raw: &[u8], url_prefix: &str, max_bytes: usize) -> Result<Request, UrlError> {
    let comps = components(raw, max_bytes)?;
    let prefix: Vec<&str> = url_prefix.split('/').filter(|c| !c.is_empty()).collect();
    let under = comps.len() > prefix.len() && prefix.iter().zip(&comps).all(|(p, c)| p == c);
    if !under {
        return Err(UrlError::NotUnderPrefix);
    }
    let rest = comps.get(prefix.len()..).unwrap_or_default();
    let (file, before) = rest.split_last().ok_or(UrlError::UnknownResource)?;
    let (container_name, dirs) = before.split_last().ok_or(UrlError::UnknownResource)?;
    let (resource, index, stream) = file_name(file)?;
    let dir = dirs.join("/");
    let key_dir = join(&[&prefix.join("/"), &dir]);
    let rendition = |name: String| Rendition {
        source: join(&[&dir, &name]),
        key: join(&[&key_dir, &name]),
        name,
    };
    let container = if container_name.ends_with(".csmil") {
        let list = CsmilList::parse(container_name).ok_or(UrlError::BadCsmil)?;
        // Empty elements would give one title many cache entries; `screen` redirects
        // such a spelling to the canonical one, so none reaches a fill.
        if list.elements.is_empty() || list.has_empty_elements() {
            return Err(UrlError::BadCsmil);
        }
        let names: Vec<String> = list.file_names().collect();
        if !names.iter().all(|n| is_rendition_name(n)) {
            return Err(UrlError::BadCsmil);
        }
        Container::Csmil {
            key: join(&[&key_dir, container_name]),
            renditions: names.into_iter().map(rendition).collect(),
        }
    } else if is_rendition_name(container_name) {
        Container::Single(rendition(container_name.clone()))
    } else {
        return Err(UrlError::UnknownResource);
    };
    let count = match &container {
        Container::Single(_) => 1,
        Container::Csmil { renditions, .. } => renditions.len(),
    };
    if index >= count {
        return Err(UrlError::RenditionOutOfRange);
    }
    let scope = match &resource {
        Resource::Master => query::Scope::Master,
        Resource::MediaPlaylist | Resource::IFramePlaylist => query::Scope::MediaPlaylist,
        Resource::Subtitles { of, segment } => query::Scope::Subtitles {
            playlist: segment.is_none(),
            sidecar: matches!(of, SubtitleSource::Sidecar(_)),
        },
        Resource::Segment(_) | Resource::Key => query::Scope::Segment,
    };
    let raw_query = split_query(raw).1.unwrap_or_default();
    let mut query = query::parse(raw_query).map_err(UrlError::BadQuery)?;
    // A relative `subtitle_location` is from the title's dir.
    let media_dir = container
        .renditions()
        .first()
        .and_then(|r| r.source.rsplit_once('/'))
        .map_or("", |(dir, _)| dir);
    query.sidecar = query
        .sidecar
        .anchored(media_dir)
        .map_err(|e| UrlError::BadQuery(query::QueryError::Sidecar(e)))?;
    let query = query.scoped(scope);
    // One key per title, whatever clip or cut a playlist has.
    let query = match resource {
        Resource::Key => query::Query::default(),
        _ => query,
    };
    let file_key = match query.tag() {
        Some(tag) => format!("{}/{tag}/{file}", container.key()),
        None => format!("{}/{file}", container.key()),
    };
    Ok(Request {
        container,
        resource,
        index,
        stream,
        file_key,
        query,
    })
}

/// The cache keys a hit on `raw` keeps warm (`Request::entry_keys`). Unparseable: none.
pub fn keys_for_hit(raw: &[u8], url_prefix: &str, max_bytes: usize) -> Vec<String> {
    match parse(raw, url_prefix, max_bytes) {
        Ok(request) => request.entry_keys(),
        Err(_) => Vec::new(),
    }
}

/// The methods casterpak serves; the value of the `Allow` header of a 405.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

/// What the worker does with a request before treating it as a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Go on: an endpoint, a miss to fill, or an error `parse` will name.
    Proceed,
    /// Not GET or HEAD: 405 with `Allow: GET, HEAD`. nginx refuses these before the
    /// worker; the worker refuses them too, so no config can make a POST package.
    MethodNotAllowed,
    /// A csmil spelling with empty elements: 301 to this URI (canonical path, same
    /// query), so one title has one set of cache entries whatever the spelling.
    Moved(String),
}

/// Screens `REQUEST_METHOD` and `REQUEST_URI` (pure).
pub fn screen(method: &[u8], raw: &[u8], url_prefix: &str, max_bytes: usize) -> Screen {
    if !matches!(method, b"GET" | b"HEAD") {
        return Screen::MethodNotAllowed;
    }
    match canonical_location(raw, url_prefix, max_bytes) {
        Some(location) => Screen::Moved(location),
        None => Screen::Proceed,
    }
}

/// The canonical URI of a csmil spelling with empty elements, if that URI names a
/// resource (`None` otherwise, and for URIs that are canonical already): decoded
/// components re-encoded, the container's empty elements dropped, the query kept.
fn canonical_location(raw: &[u8], url_prefix: &str, max_bytes: usize) -> Option<String> {
    let (path, query) = split_query(raw);
    let mut comps = components(path, max_bytes).ok()?;
    let at = comps.len().checked_sub(2)?;
    let container = comps.get_mut(at)?;
    *container = csmil_without_empty_elements(container)?;
    let mut location = format!("/{}", encode_path(&comps.join("/")));
    if let Some(query) = query {
        location.push('?');
        location.push_str(&encode_query(query));
    }
    parse(location.as_bytes(), url_prefix, max_bytes).ok()?;
    Some(location)
}

/// A raw query for a header value: printable ASCII kept as sent (its encoding is the
/// client's business), other bytes percent-encoded so the header stays one clean line.
fn encode_query(query: &[u8]) -> String {
    let mut out = String::with_capacity(query.len());
    for &b in query {
        if b.is_ascii_graphic() && b != b'#' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path for a URI (HTTP header or playlist line): keeps
/// unreserved characters, sub-delimiters, ':', '@' and '/'; encodes the rest
/// (space, '%', '?', '#', controls, non-ASCII bytes).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `subtitles_<stem>.m3u8` (segment None) or `subtitles_<stem>_<K>.vtt`: whose cues
/// (`<lang>` a sidecar, `t<ID>` a timed text track); `None` when `name` is no
/// subtitle file at all. Shared by the TS and CMAF forms.
pub(crate) fn subtitle_file(name: &str) -> Option<Result<(SubtitleSource, Option<u64>), UrlError>> {
    Some(subtitle_parts(name.strip_prefix("subtitles_")?))
}

/// `subtitles_<stem>.vtt`, a stem without `_K`: the whole WebVTT of a subtitle
/// rendition (what a DASH MPD names); `None` when `name` is not that form.
pub(crate) fn whole_subtitle_file(name: &str) -> Option<Result<SubtitleSource, UrlError>> {
    let stem = name.strip_prefix("subtitles_")?.strip_suffix(".vtt")?;
    (!stem.contains('_')).then(|| subtitle_source(stem))
}

fn subtitle_parts(rest: &str) -> Result<(SubtitleSource, Option<u64>), UrlError> {
    let (stem, segment) = match (rest.strip_suffix(".m3u8"), rest.strip_suffix(".vtt")) {
        (Some(stem), _) => (stem, None),
        (None, Some(named)) => {
            let (stem, k) = named.rsplit_once('_').ok_or(UrlError::UnknownResource)?;
            let k = number(k)
                .filter(|&k| k >= 1)
                .ok_or(UrlError::UnknownResource)?;
            (stem, Some(k))
        }
        (None, None) => return Err(UrlError::UnknownResource),
    };
    Ok((subtitle_source(stem)?, segment))
}

/// Whose cues a subtitle file's stem names: `t<ID>` a timed text track, else a
/// sidecar's language.
fn subtitle_source(stem: &str) -> Result<SubtitleSource, UrlError> {
    let track = stem
        .strip_prefix('t')
        .and_then(number)
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id > 0);
    match track {
        Some(id) => Ok(SubtitleSource::Track(id)),
        None if crate::playlist::subtitles::is_language(stem) => {
            Ok(SubtitleSource::Sidecar(stem.to_string()))
        }
        None => Err(UrlError::UnknownResource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 4096;

    fn single(source: &str, key: &str) -> Container {
        Container::Single(Rendition {
            source: source.into(),
            key: key.into(),
            name: source.rsplit('/').next().unwrap().into(),
        })
    }

    #[test]
    fn valid_forms() {
        let cases: Vec<(&str, Container, Resource, usize, &str)> = vec![
            (
                "/i/a/b.mp4/master.m3u8",
                single("a/b.mp4", "i/a/b.mp4"),
                Resource::Master,
                0,
                "i/a/b.mp4/master.m3u8",
            ),
            (
                "/i/b.mp4/index_0_av.m3u8?token=x/../y",
                single("b.mp4", "i/b.mp4"),
                Resource::MediaPlaylist,
                0,
                "i/b.mp4/index_0_av.m3u8",
            ),
            (
                "/i/b.mp4/iframes_0_av.m3u8",
                single("b.mp4", "i/b.mp4"),
                Resource::IFramePlaylist,
                0,
                "i/b.mp4/iframes_0_av.m3u8",
            ),
            (
                "/i/x/y/b.mp4/segment12_0_av.ts",
                single("x/y/b.mp4", "i/x/y/b.mp4"),
                Resource::Segment(12),
                0,
                "i/x/y/b.mp4/segment12_0_av.ts",
            ),
            (
                "/i/my%20video%C3%A9.mp4/segment1_0_av.ts",
                single("my videoé.mp4", "i/my videoé.mp4"),
                Resource::Segment(1),
                0,
                "i/my videoé.mp4/segment1_0_av.ts",
            ),
        ];
        for (uri, container, resource, index, file_key) in cases {
            let r = parse(uri.as_bytes(), "/i", MAX).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
            assert_eq!(r.container, container, "{uri}");
            assert_eq!(r.resource, resource, "{uri}");
            assert_eq!(r.index, index, "{uri}");
            assert_eq!(r.file_key, file_key, "{uri}");
        }
    }

    /// (source, key) of each rendition.
    type Pairs = Vec<(String, String)>;

    fn csmil_names(uri: &str) -> (String, Pairs, Resource, usize) {
        let r = parse(uri.as_bytes(), "/i", MAX).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
        match r.container {
            Container::Csmil { key, renditions } => (
                key,
                renditions.into_iter().map(|r| (r.source, r.key)).collect(),
                r.resource,
                r.index,
            ),
            other => panic!("{uri}: {other:?}"),
        }
    }

    #[test]
    fn streams_from_name_suffixes() {
        let stream = |uri: &str| parse(uri.as_bytes(), "/i", MAX).map(|r| (r.resource, r.stream));
        assert_eq!(
            stream("/i/b.mp4/index_0_av.m3u8"),
            Ok((Resource::MediaPlaylist, Stream::Muxed))
        );
        assert_eq!(
            stream("/i/b.mp4/index_0_v.m3u8"),
            Ok((Resource::MediaPlaylist, Stream::Video))
        );
        assert_eq!(
            stream("/i/,a,b,.mp4.csmil/segment3_1_a12.ts"),
            Ok((Resource::Segment(3), Stream::Audio(12)))
        );
        assert_eq!(
            stream("/i/b.mp4/master.m3u8"),
            Ok((Resource::Master, Stream::Muxed))
        );
        for bad in [
            "/i/b.mp4/index_0_a0.m3u8",
            "/i/b.mp4/index_0_a01.m3u8",
            "/i/b.mp4/index_0_a.m3u8",
            "/i/b.mp4/index_0_.m3u8",
            "/i/b.mp4/index_0_x.m3u8",
            "/i/b.mp4/index_0_av_v.m3u8",
            "/i/b.mp4/segment1_0_av_x.ts",
            "/i/b.mp4/segment1_0_a99999999999.ts",
            "/i/b.mp4/iframes_0_v.m3u8",
        ] {
            assert_eq!(stream(bad), Err(UrlError::UnknownResource), "{bad}");
        }
        for (suffix, s) in [
            ("av", Stream::Muxed),
            ("v", Stream::Video),
            ("a7", Stream::Audio(7)),
        ] {
            assert_eq!(s.suffix(), suffix);
        }
    }

    #[test]
    fn csmil_forms() {
        let own = |v: &[(&str, &str)]| -> Pairs {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let cases: Vec<(&str, &str, Pairs, Resource, usize)> = vec![
            (
                "/i/20220404/1251/my_video_,highdef,medium,low,.mp4.csmil/master.m3u8",
                "i/20220404/1251/my_video_,highdef,medium,low,.mp4.csmil",
                own(&[
                    (
                        "20220404/1251/my_video_highdef.mp4",
                        "i/20220404/1251/my_video_highdef.mp4",
                    ),
                    (
                        "20220404/1251/my_video_medium.mp4",
                        "i/20220404/1251/my_video_medium.mp4",
                    ),
                    (
                        "20220404/1251/my_video_low.mp4",
                        "i/20220404/1251/my_video_low.mp4",
                    ),
                ]),
                Resource::Master,
                0,
            ),
            (
                // Empty prefix and dir.
                "/i/,a,b,.mp4.csmil/segment3_1_av.ts",
                "i/,a,b,.mp4.csmil",
                own(&[("a.mp4", "i/a.mp4"), ("b.mp4", "i/b.mp4")]),
                Resource::Segment(3),
                1,
            ),
            (
                "/i/d/p,x.mp4,.csmil/index_0_av.m3u8",
                "i/d/p,x.mp4,.csmil",
                own(&[("d/px.mp4", "i/d/px.mp4")]),
                Resource::MediaPlaylist,
                0,
            ),
        ];
        for (uri, key, renditions, resource, index) in cases {
            assert_eq!(
                csmil_names(uri),
                (key.to_string(), renditions, resource, index),
                "{uri}"
            );
        }
    }

    #[test]
    fn csmil_rendition_keys_table() {
        let cases: [(&str, Option<&[&str]>); 6] = [
            (
                "i/a/p_,lo,hi,.mp4.csmil",
                Some(&["i/a/p_lo.mp4", "i/a/p_hi.mp4"]),
            ),
            (",a,b,.mp4.csmil", Some(&["a.mp4", "b.mp4"])),
            (
                "i/p_,lo,,hi,.mp4.csmil",
                Some(&["i/p_lo.mp4", "i/p_hi.mp4"]),
            ),
            ("i/x.mp4", None),
            ("i/,.csmil", None),
            ("i/nocomma.csmil", None),
        ];
        for (key, expected) in cases {
            let expected = expected.map(|keys| keys.iter().map(|k| k.to_string()).collect());
            assert_eq!(csmil_rendition_keys(key), expected, "{key}");
        }
    }

    #[test]
    fn hostile_and_malformed_uris() {
        let long = format!("/i/{}.mp4/master.m3u8", "a".repeat(5000));
        let cases: Vec<(&[u8], UrlError)> = vec![
            (b"/i/../etc/passwd.mp4/master.m3u8", UrlError::DotComponent),
            (b"/i/%2e%2e/x.mp4/master.m3u8", UrlError::DotComponent),
            (b"/i/%2E/x.mp4/master.m3u8", UrlError::DotComponent),
            (b"/i/./x.mp4/master.m3u8", UrlError::DotComponent),
            (b"/i//x.mp4/master.m3u8", UrlError::EmptyComponent),
            (b"/i/x.mp4/master.m3u8/", UrlError::EmptyComponent),
            (b"/i/a%2fb.mp4/master.m3u8", UrlError::EncodedSlash),
            (b"/i/a%2F..%2Fb.mp4/master.m3u8", UrlError::EncodedSlash),
            (b"/i/a%00.mp4/master.m3u8", UrlError::Nul),
            (b"/i/a\0.mp4/master.m3u8", UrlError::Nul),
            (b"/i/a\\..\\b.mp4/master.m3u8", UrlError::Backslash),
            (b"/i/a%5cb.mp4/master.m3u8", UrlError::Backslash),
            (b"/i/a%0d%0aX:1.mp4/master.m3u8", UrlError::Control),
            (b"/i/a%ff.mp4/master.m3u8", UrlError::NotUtf8),
            (b"/i/a\xc3.mp4/master.m3u8", UrlError::NotUtf8),
            (b"/i/a%zz.mp4/master.m3u8", UrlError::BadPercent),
            (b"/i/a%4.mp4/master.m3u8", UrlError::BadPercent),
            (b"/i/a.mp4/master.m3u8%", UrlError::BadPercent),
            (b"i/a.mp4/master.m3u8", UrlError::NotAbsolute),
            (b"", UrlError::NotAbsolute),
            (long.as_bytes(), UrlError::TooLong),
            (b"/x/a.mp4/master.m3u8", UrlError::NotUnderPrefix),
            (b"/i", UrlError::NotUnderPrefix),
            (b"/i/", UrlError::EmptyComponent),
            (b"/img/a.mp4/master.m3u8", UrlError::NotUnderPrefix),
            (b"/i/master.m3u8", UrlError::UnknownResource),
            (b"/i/a.mov/master.m3u8", UrlError::UnknownResource),
            (b"/i/.mp4/master.m3u8", UrlError::UnknownResource),
            (b"/i/a.mp4/other.txt", UrlError::UnknownResource),
            (b"/i/a.mp4/segment0_0_av.ts", UrlError::UnknownResource),
            (b"/i/a.mp4/segment01_0_av.ts", UrlError::UnknownResource),
            (b"/i/a.mp4/segment-1_0_av.ts", UrlError::UnknownResource),
            (b"/i/a.mp4/segment+1_0_av.ts", UrlError::UnknownResource),
            (b"/i/a.mp4/segment1_av.ts", UrlError::UnknownResource),
            (
                b"/i/a.mp4/segment99999999999999999999_0_av.ts",
                UrlError::UnknownResource,
            ),
            (b"/i/a.mp4/index__av.m3u8", UrlError::UnknownResource),
            (b"/i/a.mp4/iframes_01_av.m3u8", UrlError::UnknownResource),
            (b"/i/a.mp4/iframes_1_av.m3u8", UrlError::RenditionOutOfRange),
            (b"/i/a.mp4/index_00_av.m3u8", UrlError::UnknownResource),
            (b"/i/a.mp4/index_1_av.m3u8", UrlError::RenditionOutOfRange),
            (b"/i/a.mp4/segment2_1_av.ts", UrlError::RenditionOutOfRange),
            (
                b"/i/p_,a,b,.mp4.csmil/index_2_av.m3u8",
                UrlError::RenditionOutOfRange,
            ),
            (
                b"/i/p_,a,.mp4.csmil/segment1_1_av.ts",
                UrlError::RenditionOutOfRange,
            ),
            (b"/i/p_.mp4.csmil/master.m3u8", UrlError::BadCsmil),
            (b"/i/p_,.mp4.csmil/master.m3u8", UrlError::BadCsmil),
            (b"/i/p_,,,.mp4.csmil/master.m3u8", UrlError::BadCsmil),
            (b"/i/p_,a,b,.mov.csmil/master.m3u8", UrlError::BadCsmil),
            (b"/i/.csmil/master.m3u8", UrlError::BadCsmil),
            // Empty elements: `screen` redirects these before a fill could cache them.
            (b"/i/a_,,low,,.mp4.csmil/master.m3u8", UrlError::BadCsmil),
            (b"/i/,,a,.mp4.csmil/index_0_av.m3u8", UrlError::BadCsmil),
            (b"/i/p_,a,,.mp4.csmil/segment1_0_av.ts", UrlError::BadCsmil),
        ];
        for (uri, expected) in cases {
            assert_eq!(
                parse(uri, "/i", MAX),
                Err(expected),
                "{}",
                String::from_utf8_lossy(uri)
            );
        }
    }

    #[test]
    fn only_the_path_counts_against_max_uri_bytes() {
        let query = format!("?token={}", "q".repeat(6000));
        let long_query = format!("/i/a.mp4/master.m3u8{query}");
        let r = parse(long_query.as_bytes(), "/i", MAX).expect("a long query is not refused");
        assert_eq!(r.file_key, "i/a.mp4/master.m3u8");
        let path = format!("/i/{}.mp4/master.m3u8", "a".repeat(MAX));
        assert_eq!(parse(path.as_bytes(), "/i", MAX), Err(UrlError::TooLong));
        let exactly = format!("/i/{}.mp4/index_0_av.m3u8", "a".repeat(MAX - 23));
        assert_eq!(exactly.len(), MAX);
        assert!(parse(exactly.as_bytes(), "/i", MAX).is_ok());
        let one_more = format!("/i/{}.mp4/index_0_av.m3u8", "a".repeat(MAX - 22));
        assert_eq!(
            parse(one_more.as_bytes(), "/i", MAX),
            Err(UrlError::TooLong)
        );
    }

    #[test]
    fn screen_table() {
        let moved = |s: &str| Screen::Moved(s.to_string());
        let cases: Vec<(&[u8], &[u8], Screen)> = vec![
            (b"GET", b"/i/a.mp4/master.m3u8", Screen::Proceed),
            (b"HEAD", b"/i/a.mp4/segment1_0_av.ts", Screen::Proceed),
            (b"GET", b"/_casterpak/health", Screen::Proceed),
            (
                b"GET",
                b"/i/p_,lo,hi,.mp4.csmil/master.m3u8",
                Screen::Proceed,
            ),
            // Invalid URIs go on to `parse`, which names the error.
            (b"GET", b"/i/../a.mp4/master.m3u8", Screen::Proceed),
            (b"GET", b"/i/p_,,,.mp4.csmil/master.m3u8", Screen::Proceed),
            (b"GET", b"/i/p_,,lo,.mov.csmil/master.m3u8", Screen::Proceed),
            (
                b"GET",
                b"/i/p_,,lo,.mp4.csmil/index_1_av.m3u8",
                Screen::Proceed,
            ),
            (b"GET", b"/i/p_,,lo,.mp4.csmil/other.txt", Screen::Proceed),
            (
                b"GET",
                b"/i/a_,,low,,.mp4.csmil/master.m3u8",
                moved("/i/a_,low,.mp4.csmil/master.m3u8"),
            ),
            (
                b"HEAD",
                b"/i/d/,,a,,,b,.mp4.csmil/segment3_1_av.ts?x=1&y=%20",
                moved("/i/d/,a,b,.mp4.csmil/segment3_1_av.ts?x=1&y=%20"),
            ),
            (
                b"GET",
                b"/i/p_,a,,.mp4.csmil/index_0_av.m3u8?",
                moved("/i/p_,a,.mp4.csmil/index_0_av.m3u8?"),
            ),
            (
                // Decoded and re-encoded: the target is the one spelling of the file.
                b"GET",
                b"/i/my%20d%69r/v_%2C%2Clo,.mp4.csmil/master.m3u8?k=\xc3\xa9#",
                moved("/i/my%20dir/v_,lo,.mp4.csmil/master.m3u8?k=%C3%A9%23"),
            ),
            (b"POST", b"/i/a.mp4/master.m3u8", Screen::MethodNotAllowed),
            (
                b"PUT",
                b"/i/a_,,low,,.mp4.csmil/master.m3u8",
                Screen::MethodNotAllowed,
            ),
            (
                b"OPTIONS",
                b"/i/a.mp4/master.m3u8",
                Screen::MethodNotAllowed,
            ),
            (b"get", b"/i/a.mp4/master.m3u8", Screen::MethodNotAllowed),
            (b"", b"/i/a.mp4/master.m3u8", Screen::MethodNotAllowed),
            (
                b"PROPFIND",
                b"/i/a.mp4/master.m3u8",
                Screen::MethodNotAllowed,
            ),
        ];
        for (method, uri, expected) in cases {
            let label = format!(
                "{} {}",
                String::from_utf8_lossy(method),
                String::from_utf8_lossy(uri)
            );
            let got = screen(method, uri, "/i", MAX);
            assert_eq!(got, expected, "{label}");
            // A redirect target is canonical: screening it again goes on (no loop).
            if let Screen::Moved(target) = got {
                assert_eq!(
                    screen(b"GET", target.as_bytes(), "/i", MAX),
                    Screen::Proceed
                );
                assert!(parse(target.as_bytes(), "/i", MAX).is_ok(), "{target}");
            }
        }
    }

    #[test]
    fn queries_name_their_files_in_a_tag_dir() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"/i/a.mp4/master.m3u8?hdnts=x&foo=1", "i/a.mp4/master.m3u8"),
            (
                b"/i/a.mp4/master.m3u8?start=12&end=40&b=300-",
                "i/a.mp4/~start12~end40~b300-/master.m3u8",
            ),
            (
                b"/i/p_,a,b,.mp4.csmil/index_1_av.m3u8?b=300-&end=40.0&start=12",
                "i/p_,a,b,.mp4.csmil/~start12~end40/index_1_av.m3u8",
            ),
            // A clip's first or last segment, trimmed at a keyframe; `b` is for masters.
            (
                b"/i/a.mp4/segment3_0_av.ts?start=14&b=1-",
                "i/a.mp4/~start14/segment3_0_av.ts",
            ),
            (
                b"/i/a.mp4/segment3_0_av.ts?sd=6006ms",
                "i/a.mp4/~sd6006/segment3_0_av.ts",
            ),
            // A subtitle playlist keeps the clip and a sidecar's overrides; its WebVTT
            // segments, shared by every clip, the overrides alone; a track's nothing.
            (
                b"/i/a.mp4/subtitles_en.m3u8?end=9&start=3&b=1-&sd=4000ms&subtitle_identifier=v",
                "i/a.mp4/~start3~end9~sidv/subtitles_en.m3u8",
            ),
            (
                b"/i/a.mp4/subtitles_en_2.vtt?start=3&subtitle_identifier=v",
                "i/a.mp4/~sidv/subtitles_en_2.vtt",
            ),
            (
                b"/i/a.mp4/subtitles_t3.m3u8?start=3&subtitle_identifier=v",
                "i/a.mp4/~start3/subtitles_t3.m3u8",
            ),
            (
                b"/i/a.mp4/subtitles_t3_2.vtt?start=3&sd=4000ms",
                "i/a.mp4/subtitles_t3_2.vtt",
            ),
        ];
        for (uri, file_key) in cases {
            let r = parse(uri, "/i", MAX).unwrap();
            assert_eq!(r.file_key, file_key, "{}", String::from_utf8_lossy(uri));
        }
        assert_eq!(
            parse(b"/i/a.mp4/master.m3u8?start=-1", "/i", MAX),
            Err(UrlError::BadQuery(query::QueryError::Negative("start")))
        );
        assert_eq!(
            parse(b"/i/a.mp4/master.m3u8?b=x", "/i", MAX),
            Err(UrlError::BadQuery(query::QueryError::BadBitrate))
        );
    }

    #[test]
    fn multi_component_prefix() {
        let r = parse(b"/vod/hls/a.mp4/master.m3u8", "/vod/hls", MAX).unwrap();
        assert_eq!(r.file_key, "vod/hls/a.mp4/master.m3u8");
        assert_eq!(r.rendition(), None);
        assert_eq!(
            parse(b"/vod/a.mp4/master.m3u8", "/vod/hls", MAX),
            Err(UrlError::NotUnderPrefix)
        );
    }

    #[test]
    fn hit_keys() {
        let cases: Vec<(&[u8], Vec<&str>)> = vec![
            (b"/i/a/b.mp4/segment3_0_av.ts", vec!["i/a/b.mp4"]),
            (b"/i/a/b.mp4/master.m3u8?x=1", vec!["i/a/b.mp4"]),
            (
                b"/i/a/p_,lo,hi,.mp4.csmil/master.m3u8",
                vec!["i/a/p_,lo,hi,.mp4.csmil"],
            ),
            (
                b"/i/a/p_,lo,hi,.mp4.csmil/segment2_1_av.ts",
                vec!["i/a/p_,lo,hi,.mp4.csmil", "i/a/p_hi.mp4"],
            ),
            (
                b"/i/a/p_,lo,hi,.mp4.csmil/index_0_av.m3u8",
                vec!["i/a/p_,lo,hi,.mp4.csmil", "i/a/p_lo.mp4"],
            ),
            (b"/i/../x.mp4/master.m3u8", vec![]),
            (b"/favicon.ico", vec![]),
        ];
        for (uri, keys) in cases {
            assert_eq!(
                keys_for_hit(uri, "/i", MAX),
                keys,
                "{}",
                String::from_utf8_lossy(uri)
            );
        }
    }

    #[test]
    fn encode_path_round_trips_through_parse() {
        let cases = [
            ("i/a b/c%d?.mp4", "i/a%20b/c%25d%3F.mp4"),
            ("i/é#.mp4", "i/%C3%A9%23.mp4"),
            ("i/p_,lo,hi,.mp4.csmil", "i/p_,lo,hi,.mp4.csmil"),
        ];
        for (path, encoded) in cases {
            assert_eq!(encode_path(path), encoded);
            let uri = format!("/{}/index_0_av.m3u8", encode_path(path));
            if !path.ends_with(".csmil") {
                let r = parse(uri.as_bytes(), "/i", MAX).unwrap();
                assert_eq!(r.container.key(), path);
            }
        }
    }
}
