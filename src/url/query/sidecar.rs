//! MSOD's query overrides of where a title's sidecar subtitles are (pure):
//! `subtitle_file_pattern=langcode_identifier|identifier_langcode[.vtt|.srt]`,
//! `subtitle_identifier=<name>`, `subtitle_location=<dir>` (relative to the media's
//! dir, or absolute from the media root).
//!
//! Unlike the other query keys their values are percent-decoded (a CMS may well send
//! `subtitle_location=%2Fsubs`), then held to a narrow charset, so the canonical
//! spelling needs no encoding and names a cache dir safely.

use crate::url::percent_decoded;
use serde::Deserialize;

/// Longest identifier and location taken (a file name; a few dirs).
const MAX_IDENTIFIER: usize = 128;
const MAX_LOCATION: usize = 512;

/// How a sidecar's file name joins the language and the media identifier.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FilePattern {
    /// `<identifier>_<lang>.vtt`
    #[default]
    IdentifierLang,
    /// `<lang>_<identifier>.vtt`
    LangIdentifier,
}

/// A sidecar's format, by its file's extension: WebVTT, SubRip, or DFXP/TTML under any
/// of its three usual names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarExt {
    Vtt,
    Srt,
    Dfxp,
    Ttml,
    Xml,
}

impl SidecarExt {
    /// The formats looked for, in this order, when a request names none (`.xml` only
    /// when named: too many other files end so).
    pub const SEARCHED: [SidecarExt; 4] = [
        SidecarExt::Vtt,
        SidecarExt::Srt,
        SidecarExt::Dfxp,
        SidecarExt::Ttml,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SidecarExt::Vtt => "vtt",
            SidecarExt::Srt => "srt",
            SidecarExt::Dfxp => "dfxp",
            SidecarExt::Ttml => "ttml",
            SidecarExt::Xml => "xml",
        }
    }
}

/// The overrides of one request; the default is none (the config's naming).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidecarQuery {
    pub pattern: Option<(FilePattern, Option<SidecarExt>)>,
    pub identifier: Option<String>,
    /// As sent until [`SidecarQuery::anchored`]; then the dir from the media root, no
    /// leading or trailing `/` (`""`: the root itself).
    pub location: Option<String>,
}

/// Why a subtitle override is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarError {
    Pattern,
    Identifier,
    Location,
    LocationOutsideRoot,
}

impl std::fmt::Display for SidecarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SidecarError::Pattern => {
                "subtitle_file_pattern= must be langcode_identifier or identifier_langcode, optionally with .vtt or .srt"
            }
            SidecarError::Identifier => {
                "subtitle_identifier= must be a file name of letters, digits, '_', '-' and '.'"
            }
            SidecarError::Location => {
                "subtitle_location= must be a dir path of letters, digits, '_', '-' and '.'"
            }
            SidecarError::LocationOutsideRoot => {
                "subtitle_location= leads outside the media root"
            }
        })
    }
}

/// A file or dir name: letters, digits, `_`, `-`, `.`, not starting with `.` (hidden
/// files are not served), at most `max` bytes.
fn is_name(text: &[u8], max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.first() != Some(&b'.')
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn pattern(raw: &[u8]) -> Result<(FilePattern, Option<SidecarExt>), SidecarError> {
    let value = percent_decoded(raw).ok_or(SidecarError::Pattern)?;
    let (name, ext) = match value.iter().position(|&b| b == b'.') {
        Some(at) => (
            value.get(..at).unwrap_or_default(),
            Some(value.get(at + 1..).unwrap_or_default()),
        ),
        None => (&value[..], None),
    };
    let pattern = match name {
        b"langcode_identifier" => FilePattern::LangIdentifier,
        b"identifier_langcode" => FilePattern::IdentifierLang,
        _ => return Err(SidecarError::Pattern),
    };
    let ext = match ext {
        None => None,
        Some(b"vtt") => Some(SidecarExt::Vtt),
        Some(b"srt") => Some(SidecarExt::Srt),
        Some(b"dfxp") => Some(SidecarExt::Dfxp),
        Some(b"ttml") => Some(SidecarExt::Ttml),
        Some(b"xml") => Some(SidecarExt::Xml),
        Some(_) => return Err(SidecarError::Pattern),
    };
    Ok((pattern, ext))
}

fn identifier(raw: &[u8]) -> Result<String, SidecarError> {
    let value = percent_decoded(raw).ok_or(SidecarError::Identifier)?;
    if !is_name(&value, MAX_IDENTIFIER) {
        return Err(SidecarError::Identifier);
    }
    String::from_utf8(value).map_err(|_| SidecarError::Identifier)
}

/// The location as sent, decoded and checked component by component (`.` and `..`
/// allowed: they are resolved by [`SidecarQuery::anchored`]).
fn location(raw: &[u8]) -> Result<String, SidecarError> {
    let value = percent_decoded(raw).ok_or(SidecarError::Location)?;
    if value.len() > MAX_LOCATION {
        return Err(SidecarError::Location);
    }
    let text = String::from_utf8(value).map_err(|_| SidecarError::Location)?;
    let components_ok = text
        .split('/')
        .filter(|c| !c.is_empty())
        .all(|c| c == "." || c == ".." || is_name(c.as_bytes(), MAX_LOCATION));
    if !components_ok {
        return Err(SidecarError::Location);
    }
    Ok(text)
}

/// The overrides of a raw query (`first`: its first-occurrence lookup).
pub(super) fn parse<'a>(
    first: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<SidecarQuery, SidecarError> {
    Ok(SidecarQuery {
        pattern: first("subtitle_file_pattern").map(pattern).transpose()?,
        identifier: first("subtitle_identifier").map(identifier).transpose()?,
        location: first("subtitle_location").map(location).transpose()?,
    })
}

impl SidecarQuery {
    pub fn is_none(&self) -> bool {
        *self == SidecarQuery::default()
    }

    /// The location made absolute: a relative one from `media_dir` (the title's dir
    /// from the media root, `""` at the root), `.` and `..` resolved; one that climbs
    /// above the root is refused.
    pub fn anchored(mut self, media_dir: &str) -> Result<SidecarQuery, SidecarError> {
        let Some(location) = self.location.take() else {
            return Ok(self);
        };
        let mut dirs: Vec<&str> = Vec::new();
        if !location.starts_with('/') {
            dirs.extend(media_dir.split('/').filter(|c| !c.is_empty()));
        }
        for component in location.split('/').filter(|c| !c.is_empty()) {
            match component {
                "." => {}
                ".." => {
                    dirs.pop().ok_or(SidecarError::LocationOutsideRoot)?;
                }
                name => dirs.push(name),
            }
        }
        self.location = Some(dirs.join("/"));
        Ok(self)
    }

    /// The query a master writes on the subtitle URIs it lists: the overrides,
    /// canonical (the location absolute).
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some((pattern, ext)) = self.pattern {
            parts.push(format!(
                "subtitle_file_pattern={}",
                pattern_text(pattern, ext)
            ));
        }
        if let Some(identifier) = &self.identifier {
            parts.push(format!("subtitle_identifier={identifier}"));
        }
        if let Some(location) = &self.location {
            parts.push(format!("subtitle_location=/{location}"));
        }
        parts.join("&")
    }

    /// The part of a cache dir name: `~sfp<pattern>~sid<identifier>~sloc<dir>`, the
    /// dir's `/` as `,` (one dir level, like every query tag). nginx builds the same
    /// `~sfp` and `~sid` parts from the raw values; a location always goes to the worker.
    pub(super) fn push_tag(&self, tag: &mut String) {
        if let Some((pattern, ext)) = self.pattern {
            tag.push_str("~sfp");
            tag.push_str(&pattern_text(pattern, ext));
        }
        if let Some(identifier) = &self.identifier {
            tag.push_str("~sid");
            tag.push_str(identifier);
        }
        if let Some(location) = &self.location {
            tag.push_str("~sloc");
            tag.push_str(&location.replace('/', ","));
        }
    }
}

fn pattern_text(pattern: FilePattern, ext: Option<SidecarExt>) -> String {
    let name = match pattern {
        FilePattern::LangIdentifier => "langcode_identifier",
        FilePattern::IdentifierLang => "identifier_langcode",
    };
    match ext {
        Some(ext) => format!("{name}.{}", ext.as_str()),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Result<SidecarQuery, SidecarError> {
        let query = query.as_bytes();
        parse(|key| super::super::first(query, key))
    }

    #[test]
    fn values_are_decoded_checked_and_spelled_canonically() {
        let q = parsed("subtitle_file_pattern=langcode_identifier.srt&subtitle_identifier=video%2Dv2&subtitle_location=..%2Fsubs")
            .unwrap()
            .anchored("films/a")
            .unwrap();
        assert_eq!(
            q.pattern,
            Some((FilePattern::LangIdentifier, Some(SidecarExt::Srt)))
        );
        assert_eq!(q.identifier.as_deref(), Some("video-v2"));
        assert_eq!(q.location.as_deref(), Some("films/subs"));
        assert_eq!(
            q.text(),
            "subtitle_file_pattern=langcode_identifier.srt&subtitle_identifier=video-v2&subtitle_location=/films/subs"
        );
        let mut tag = String::new();
        q.push_tag(&mut tag);
        assert_eq!(
            tag,
            "~sfplangcode_identifier.srt~sidvideo-v2~slocfilms,subs"
        );
        // The canonical text parses back to itself.
        let again = parsed(&q.text()).unwrap().anchored("elsewhere").unwrap();
        assert_eq!(again, q);
        for (ext, format) in [
            ("vtt", SidecarExt::Vtt),
            ("dfxp", SidecarExt::Dfxp),
            ("ttml", SidecarExt::Ttml),
            ("xml", SidecarExt::Xml),
        ] {
            let q = parsed(&format!("subtitle_file_pattern=identifier_langcode.{ext}")).unwrap();
            assert_eq!(q.pattern, Some((FilePattern::IdentifierLang, Some(format))));
            assert_eq!(format.as_str(), ext);
        }
        assert_eq!(
            parsed("subtitle_file_pattern=identifier_langcode.sub"),
            Err(SidecarError::Pattern)
        );
    }

    #[test]
    fn absolute_locations_start_at_the_root() {
        let at = |l: &str| {
            parsed(&format!("subtitle_location={l}"))
                .unwrap()
                .anchored("a/b")
                .map(|q| q.location.unwrap())
        };
        assert_eq!(at("/subs/en").unwrap(), "subs/en");
        assert_eq!(at("/").unwrap(), "");
        assert_eq!(at("./x/").unwrap(), "a/b/x");
        assert_eq!(at("../..").unwrap(), "");
        assert_eq!(at("../../.."), Err(SidecarError::LocationOutsideRoot));
        assert_eq!(at("/.."), Err(SidecarError::LocationOutsideRoot));
    }

    #[test]
    fn bad_values_are_refused() {
        for (query, error) in [
            (
                "subtitle_file_pattern=lang_identifier",
                SidecarError::Pattern,
            ),
            (
                "subtitle_file_pattern=langcode_identifier.sub",
                SidecarError::Pattern,
            ),
            (
                "subtitle_file_pattern=langcode_identifier.",
                SidecarError::Pattern,
            ),
            ("subtitle_identifier=.hidden", SidecarError::Identifier),
            ("subtitle_identifier=a%2Fb", SidecarError::Identifier),
            ("subtitle_identifier=a~b", SidecarError::Identifier),
            ("subtitle_identifier=%zz", SidecarError::Identifier),
            ("subtitle_location=subs/.git", SidecarError::Location),
            ("subtitle_location=a,b", SidecarError::Location),
            ("subtitle_location=a%00", SidecarError::Location),
        ] {
            assert_eq!(parsed(query), Err(error), "{query}");
        }
        let long = "a".repeat(MAX_IDENTIFIER + 1);
        assert_eq!(
            parsed(&format!("subtitle_identifier={long}")),
            Err(SidecarError::Identifier)
        );
    }

    #[test]
    fn none_is_the_default() {
        let q = parsed("start=1&subtitle_identifier=").unwrap();
        assert!(q.is_none());
        assert_eq!(q.text(), "");
    }
}
