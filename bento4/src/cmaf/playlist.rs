//! The media playlist of a one-track CMAF run (RFC 8216 version 7, `EXT-X-MAP`).
//! Durations are the track's own (its timeline), so audio lists what it holds.

use std::fmt::Write;

/// `durations` in seconds; segment URIs from `uri(number)`.
pub fn media_playlist(
    durations: &[f64],
    first_number: u64,
    init_uri: &str,
    uri: impl Fn(u64) -> String,
) -> String {
    let target = durations
        .iter()
        .map(|d| ((d * 1e6).round() / 1e6).round())
        .fold(1.0f64, f64::max) as u64;
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_number}");
    out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init_uri}\"");
    for (k, d) in durations.iter().enumerate() {
        let _ = writeln!(out, "#EXTINF:{d:.6},\n{}", uri(first_number + k as u64));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_the_map_and_every_segment() {
        let text = super::media_playlist(&[6.0, 2.5], 1, "init.mp4", |n| format!("s{n}.m4s"));
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:6.000000,\ns1.m4s\n#EXTINF:2.500000,\ns2.m4s\n#EXT-X-ENDLIST\n"
        );
    }
}
