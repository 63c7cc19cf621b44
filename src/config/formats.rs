//! `[formats]`: the URL prefixes of the formats beside TS (`url_prefix`): CMAF HLS
//! and DASH over the same CMAF segments.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FormatsConfig {
    /// URL prefix of CMAF (fMP4) HLS: `<cmaf_prefix>/<path>/master.m3u8`.
    pub cmaf_prefix: String,
    /// URL prefix of DASH: `<dash_prefix>/<path>/manifest.mpd`, whose segments are the
    /// CMAF HLS ones under `cmaf_prefix` (one cached copy for both).
    pub dash_prefix: String,
}

impl Default for FormatsConfig {
    fn default() -> Self {
        FormatsConfig {
            cmaf_prefix: "/c".into(),
            dash_prefix: "/d".into(),
        }
    }
}

/// True when one prefix is the other or lies beneath it (`/i` and `/i/c`), so a
/// path could belong to both.
pub fn overlap(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long == short || long.starts_with(&format!("{short}/"))
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn overlapping_prefixes() {
        assert!(overlap("/i", "/i"));
        assert!(overlap("/i", "/i/c"));
        assert!(overlap("/i/c", "/i"));
        assert!(!overlap("/i", "/ic"));
        assert!(!overlap("/c", "/d"));
    }
}
