//! URL forms of CMAF HLS (`<cmaf_prefix>/…`) and DASH (`<dash_prefix>/…`), pure.
//! The path between the prefix and the file name is the TS form's (single
//! rendition or `.csmil`, parsed by [`super::parse`]); the file names are:
//!
//! - `master.m3u8`; `index_<N>_v.m3u8` / `index_<N>_a.m3u8` (video / audio playlist);
//!   `iframes_<N>_v.m3u8` (the video's I-frame playlist);
//!   `init_<N>_v.mp4` / `init_<N>_a.m4a`; `segment<K>_<N>_v.m4s` / `segment<K>_<N>_a.m4a`;
//!   for a title with alternate audio, `_a<T>` in place of `_a` names audio track T
//! - under the DASH prefix only `manifest.mpd`, whose segments are the CMAF ones above.

use super::query::{self, Query, QueryError};
use super::{number, Container, Rendition};
use crate::error::UrlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CMAF HLS.
    Hls,
    Dash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    /// The first audio track (the one the muxed plan picks).
    Audio,
    /// Audio track T of a title with alternate audio.
    AudioTrack(u32),
}

impl Track {
    /// What file names carry for it: `v`, `a`, `a<T>`.
    pub fn tag(self) -> String {
        match self {
            Track::Video => "v".into(),
            Track::Audio => "a".into(),
            Track::AudioTrack(t) => format!("a{t}"),
        }
    }

    /// The TS names' grammar (`v`, `a<T>`: [`super::Stream`]), plus `a`, the first
    /// audio track.
    fn from_tag(tag: &str) -> Option<Track> {
        if tag == "a" {
            return Some(Track::Audio);
        }
        match super::Stream::parse(tag)? {
            super::Stream::Video => Some(Track::Video),
            super::Stream::Audio(t) => Some(Track::AudioTrack(t)),
            super::Stream::Muxed => None,
        }
    }

    /// File name extensions of its init and media segments: audio is `.m4a`, so nginx
    /// serves it as `audio/mp4` by extension alone.
    pub fn init_extension(self) -> &'static str {
        match self {
            Track::Video => "mp4",
            Track::Audio | Track::AudioTrack(_) => "m4a",
        }
    }

    pub fn segment_extension(self) -> &'static str {
        match self {
            Track::Video => "m4s",
            Track::Audio | Track::AudioTrack(_) => "m4a",
        }
    }

    /// The name the tool takes (`--cmaf video`).
    pub fn tool_name(self) -> &'static str {
        match self {
            Track::Video => "video",
            Track::Audio | Track::AudioTrack(_) => "audio",
        }
    }

    /// The audio track the tool must pick (`--audio-track-id`), when not the first.
    pub fn audio_track_id(self) -> Option<u32> {
        match self {
            Track::AudioTrack(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Master,
    MediaPlaylist(Track),
    /// The video's I-frame playlist.
    IFramePlaylist,
    Init(Track),
    /// Segment K (from 1).
    Segment(u64, Track),
    /// The DASH MPD.
    Manifest,
    /// A subtitle playlist (`segment` None) or WebVTT segment, as under the TS prefix
    /// but on the CMAF timeline.
    Subtitles {
        of: super::SubtitleSource,
        segment: Option<u64>,
    },
    /// `subtitles_<stem>.vtt`: a subtitle rendition's whole WebVTT on the DASH
    /// timeline (an MPD's text AdaptationSets name it).
    SubtitleText(super::SubtitleSource),
}

/// File names of a rendition's CMAF files in its own cache dir (N = 0) or in a
/// csmil dir (N = the rendition's index).
pub fn init_name(index: usize, track: Track) -> String {
    format!("init_{index}_{}.{}", track.tag(), track.init_extension())
}

pub fn segment_name(k: u64, index: usize, track: Track) -> String {
    format!(
        "segment{k}_{index}_{}.{}",
        track.tag(),
        track.segment_extension()
    )
}

pub fn playlist_name(index: usize, track: Track) -> String {
    format!("index_{index}_{}.m3u8", track.tag())
}

pub fn iframes_name(index: usize) -> String {
    format!("iframes_{index}_v.m3u8")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub format: Format,
    /// The container the requested file lives in (under its own prefix).
    pub container: Container,
    /// The same path under the CMAF prefix: where the media files are (= `container`
    /// for CMAF HLS).
    pub media: Container,
    pub resource: Resource,
    /// N from the file name (0 for masters and manifests).
    pub index: usize,
    /// Cache-relative path of the requested file.
    pub file_key: String,
    /// A master's or manifest's `b=` (the only query feature these formats take);
    /// default for every other file.
    pub query: Query,
}

impl Request {
    /// The rendition the file's N names (`None` for masters and manifests).
    pub fn rendition(&self) -> Option<&Rendition> {
        match (&self.resource, &self.media) {
            (Resource::Master | Resource::Manifest, _) => None,
            (_, Container::Single(r)) => Some(r),
            (_, Container::Csmil { renditions, .. }) => renditions.get(self.index),
        }
    }

    /// The cache entries this request reads (as [`super::Request::entry_keys`]).
    pub fn entry_keys(&self) -> Vec<String> {
        let mut keys = vec![self.container.key().to_string()];
        match (&self.resource, &self.media) {
            (Resource::Master | Resource::Manifest, Container::Csmil { renditions, .. }) => {
                keys.extend(renditions.iter().map(|r| r.key.clone()))
            }
            (Resource::Manifest, Container::Single(r)) => keys.push(r.key.clone()),
            _ => {
                if let (Container::Csmil { .. }, Some(r)) = (&self.media, self.rendition()) {
                    keys.push(r.key.clone());
                }
            }
        }
        keys
    }
}

fn file_name(name: &str, format: Format) -> Result<(Resource, usize), UrlError> {
    let unknown = UrlError::UnknownResource;
    let index = |n: &str| {
        number(n)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(UrlError::UnknownResource)
    };
    // `<n>_<tag>.<the tag's extension>`: `_v.m4s`, `_a.m4a`, `_a2.m4a`.
    let track = |rest: &str, extension: fn(Track) -> &'static str| -> Option<(String, Track)> {
        let (stem, ext) = rest.rsplit_once('.')?;
        let (n, tag) = stem.rsplit_once('_')?;
        let t = Track::from_tag(tag)?;
        (extension(t) == ext).then(|| (n.to_string(), t))
    };
    match format {
        Format::Dash if name == "manifest.mpd" => return Ok((Resource::Manifest, 0)),
        Format::Dash => return Err(unknown),
        Format::Hls if name == "master.m3u8" => return Ok((Resource::Master, 0)),
        Format::Hls => {}
    }
    if let Some((n, t)) = name
        .strip_prefix("index_")
        .and_then(|r| track(r, |_| "m3u8"))
    {
        return Ok((Resource::MediaPlaylist(t), index(&n)?));
    }
    if let Some(of) = super::whole_subtitle_file(name) {
        return Ok((Resource::SubtitleText(of?), 0));
    }
    if let Some(named) = super::subtitle_file(name) {
        let (of, segment) = named?;
        return Ok((Resource::Subtitles { of, segment }, 0));
    }
    if let Some(n) = name
        .strip_prefix("iframes_")
        .and_then(|r| r.strip_suffix("_v.m3u8"))
    {
        return Ok((Resource::IFramePlaylist, index(n)?));
    }
    if let Some((n, t)) = name
        .strip_prefix("init_")
        .and_then(|r| track(r, Track::init_extension))
    {
        return Ok((Resource::Init(t), index(&n)?));
    }
    if let Some((kn, t)) = name
        .strip_prefix("segment")
        .and_then(|r| track(r, Track::segment_extension))
    {
        let (k, n) = kn.split_once('_').ok_or(UrlError::UnknownResource)?;
        let k = number(k).filter(|&k| k >= 1).ok_or(unknown)?;
        return Ok((Resource::Segment(k, t), index(n)?));
    }
    Err(UrlError::UnknownResource)
}

/// Whether `path` (no query) lies beneath `prefix`.
fn under(path: &[u8], prefix: &str) -> bool {
    path.strip_prefix(prefix.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// Parses `raw` when it lies under the CMAF or the DASH prefix; `None` otherwise
/// (then it is a TS URL, or nothing).
pub fn parse(
    raw: &[u8],
    cmaf_prefix: &str,
    dash_prefix: &str,
    max_bytes: usize,
) -> Option<Result<Request, UrlError>> {
    let (path, raw_query) = super::split_query(raw);
    let (format, prefix) = if under(path, cmaf_prefix) {
        (Format::Hls, cmaf_prefix)
    } else if under(path, dash_prefix) {
        (Format::Dash, dash_prefix)
    } else {
        return None;
    };
    let parsed = parse_under(path, format, prefix, cmaf_prefix, max_bytes).and_then(|request| {
        with_query(request, raw_query.unwrap_or_default()).map_err(UrlError::BadQuery)
    });
    Some(parsed)
}

/// `request` with its query: a master's or manifest's `b=` names a file of its own
/// (in the same `~b…` dir the TS forms use, so nginx finds it); a clip or `sd`
/// on anything that lists segments is refused rather than served unclipped.
fn with_query(mut request: Request, raw: &[u8]) -> Result<Request, QueryError> {
    let mut query = query::parse(raw)?;
    let lists = matches!(
        request.resource,
        Resource::Master
            | Resource::Manifest
            | Resource::MediaPlaylist(_)
            | Resource::IFramePlaylist
            | Resource::Subtitles { segment: None, .. }
    );
    if lists && (query.clip.is_some() || query.segment_ms.is_some()) {
        return Err(QueryError::ClipNotForCmaf);
    }
    // A relative `subtitle_location` is from the title's dir.
    let media_dir = request
        .media
        .renditions()
        .first()
        .and_then(|r| r.source.rsplit_once('/'))
        .map_or("", |(dir, _)| dir);
    query.sidecar = std::mem::take(&mut query.sidecar)
        .anchored(media_dir)
        .map_err(QueryError::Sidecar)?;
    let kept = match &request.resource {
        Resource::Master | Resource::Manifest => Some(Query {
            bitrate: query.bitrate,
            sidecar: query.sidecar,
            ..Query::default()
        }),
        // A sidecar's overrides name its files, as under the TS prefix.
        Resource::Subtitles {
            of: super::SubtitleSource::Sidecar(_),
            ..
        }
        | Resource::SubtitleText(super::SubtitleSource::Sidecar(_)) => Some(Query {
            sidecar: query.sidecar,
            ..Query::default()
        }),
        _ => None,
    };
    if let Some(kept) = kept {
        request.query = kept;
        if let Some(tag) = request.query.tag() {
            let (dir, name) = request
                .file_key
                .rsplit_once('/')
                .unwrap_or(("", &request.file_key));
            request.file_key = format!("{dir}/{tag}/{name}");
        }
    }
    Ok(request)
}

fn parse_under(
    path: &[u8],
    format: Format,
    prefix: &str,
    cmaf_prefix: &str,
    max_bytes: usize,
) -> Result<Request, UrlError> {
    if path.len() > max_bytes {
        return Err(UrlError::TooLong);
    }
    let slash = path
        .iter()
        .rposition(|&b| b == b'/')
        .ok_or(UrlError::NotAbsolute)?;
    let (dir, raw_name) = (&path[..slash], &path[slash + 1..]);
    let name = super::decode_component(raw_name)?;
    let (resource, index) = file_name(&name, format)?;
    // The container: the TS grammar, asked with a name it knows.
    let container = |prefix: &str, dir: &[u8]| -> Result<Container, UrlError> {
        let probe = [dir, b"/master.m3u8"].concat();
        Ok(super::parse(&probe, prefix, max_bytes + 16)?.container)
    };
    let own = container(prefix, dir)?;
    let media = match format {
        Format::Hls => own.clone(),
        Format::Dash => {
            let rest = &dir[prefix.len()..];
            container(cmaf_prefix, &[cmaf_prefix.as_bytes(), rest].concat())?
        }
    };
    let count = match &media {
        Container::Single(_) => 1,
        Container::Csmil { renditions, .. } => renditions.len(),
    };
    if index >= count {
        return Err(UrlError::RenditionOutOfRange);
    }
    let file_key = format!("{}/{name}", own.key());
    Ok(Request {
        format,
        container: own,
        media,
        resource,
        index,
        file_key,
        query: Query::default(),
    })
}

#[cfg(test)]
mod tests;
