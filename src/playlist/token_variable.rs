//! A playlist that hands an access token on by HLS variable substitution
//! (draft-pantos-hls-rfc8216bis §4.3, `[token_auth] propagation = "define"`): it
//! declares `#EXT-X-DEFINE:QUERYPARAM="<name>"`, so a player takes the variable's
//! value from the query of the playlist's own URL, and every URI it lists asks for
//! `<name>={$<name>}`. The file is then the same for every viewer, and nginx serves it
//! as it serves an unprotected one, with no body filter. Pure.

/// The protocol version that brought `QUERYPARAM`.
const VERSION: u32 = 11;

/// `text` with `name` declared and appended to every URI line and `URI="…"`
/// attribute; its `EXT-X-VERSION` raised to 11 (written when absent) and the
/// `PROGRAM-ID` attribute (gone since version 6) dropped. `name` is a config-checked
/// query parameter name (letters, digits, '_'). Text that is not a playlist is
/// returned as it is.
pub fn with_query_variable(text: &str, name: &str) -> String {
    let Some(body) = text.strip_prefix("#EXTM3U\n") else {
        return text.to_string();
    };
    let reference = format!("{name}={{${name}}}");
    let version = body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-VERSION:"))
        .map_or(0, |v| v.trim().parse::<u32>().unwrap_or(0))
        .max(VERSION);
    let mut out = String::with_capacity(text.len() + 64 * (1 + text.matches('\n').count() / 2));
    out.push_str(&format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-DEFINE:QUERYPARAM=\"{name}\"\n"
    ));
    for line in body.split_inclusive('\n') {
        let (content, end) = match line.strip_suffix('\n') {
            Some(c) => (c, "\n"),
            None => (line, ""),
        };
        if content.starts_with("#EXT-X-VERSION:") {
            continue;
        }
        if content.starts_with('#') {
            out.push_str(&with_attribute_references(
                &without_program_id(content),
                &reference,
            ));
        } else if content.trim().is_empty() {
            out.push_str(content);
        } else {
            let separator = if content.contains('?') { '&' } else { '?' };
            out.push_str(&format!("{content}{separator}{reference}"));
        }
        out.push_str(end);
    }
    out
}

/// A tag line with `reference` appended inside each of its `URI="…"` attributes.
fn with_attribute_references(line: &str, reference: &str) -> String {
    let mut out = String::with_capacity(line.len() + reference.len());
    let mut rest = line;
    while let Some(open) = rest.find("URI=\"") {
        let value_start = open + "URI=\"".len();
        let Some(length) = rest[value_start..].find('"') else {
            break;
        };
        let value = &rest[value_start..value_start + length];
        out.push_str(&rest[..value_start + length]);
        out.push(if value.contains('?') { '&' } else { '?' });
        out.push_str(reference);
        rest = &rest[value_start + length..];
    }
    out.push_str(rest);
    out
}

/// A `#EXT-X-STREAM-INF`/`#EXT-X-I-FRAME-STREAM-INF` line without `PROGRAM-ID=n`.
fn without_program_id(line: &str) -> String {
    let stream_inf =
        line.starts_with("#EXT-X-STREAM-INF:") || line.starts_with("#EXT-X-I-FRAME-STREAM-INF:");
    let Some(at) = line.find("PROGRAM-ID=").filter(|_| stream_inf) else {
        return line.to_string();
    };
    let end = line[at..].find(',').map_or(line.len(), |c| at + c + 1);
    let mut out = format!("{}{}", &line[..at], &line[end..]);
    if out.ends_with(',') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_declares_the_variable_and_every_uri_references_it() {
        let master = "#EXTM3U\n\
            #EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English\",URI=\"index_0_a2.m3u8\"\n\
            #EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=800000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"aud\"\n\
            index_0_v.m3u8?start=9&end=16\n\
            #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"iframes_0.m3u8\"\n";
        assert_eq!(
            with_query_variable(master, "hdnts"),
            "#EXTM3U\n\
             #EXT-X-VERSION:11\n\
             #EXT-X-DEFINE:QUERYPARAM=\"hdnts\"\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English\",URI=\"index_0_a2.m3u8?hdnts={$hdnts}\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"aud\"\n\
             index_0_v.m3u8?start=9&end=16&hdnts={$hdnts}\n\
             #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"iframes_0.m3u8?hdnts={$hdnts}\"\n"
        );
    }

    #[test]
    fn a_media_playlist_keeps_its_tags_and_raises_its_version() {
        let media = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n\
            #EXT-X-MAP:URI=\"init_0_v.mp4\"\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?x=1\",IV=0x01\n\
            #EXTINF:6.000000,\nsegment1_0_v.m4s\n\n#EXT-X-ENDLIST\n";
        let out = with_query_variable(media, "tok");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:11\n#EXT-X-DEFINE:QUERYPARAM=\"tok\"\n#EXT-X-TARGETDURATION:6\n\
             #EXT-X-MAP:URI=\"init_0_v.mp4?tok={$tok}\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?x=1&tok={$tok}\",IV=0x01\n\
             #EXTINF:6.000000,\nsegment1_0_v.m4s?tok={$tok}\n\n#EXT-X-ENDLIST\n"
        );
        // A later version stays; the variable is declared once, before any use.
        let later = with_query_variable("#EXTM3U\n#EXT-X-VERSION:12\nx.ts", "t");
        assert_eq!(
            later,
            "#EXTM3U\n#EXT-X-VERSION:12\n#EXT-X-DEFINE:QUERYPARAM=\"t\"\nx.ts?t={$t}"
        );
    }

    #[test]
    fn what_is_not_a_playlist_is_left_alone() {
        for text in ["", "WEBVTT\n", "<?xml version=\"1.0\"?>\n<MPD/>\n"] {
            assert_eq!(with_query_variable(text, "hdnts"), text);
        }
        // An unterminated URI attribute is copied, not cut.
        let odd = with_query_variable("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\n", "t");
        assert!(odd.ends_with("#EXT-X-MAP:URI=\"init.mp4\n"), "{odd}");
    }

    #[test]
    fn program_id_goes_wherever_it_stands() {
        for (line, expected) in [
            (
                "#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=1",
                "#EXT-X-STREAM-INF:BANDWIDTH=1",
            ),
            (
                "#EXT-X-STREAM-INF:BANDWIDTH=1,PROGRAM-ID=1",
                "#EXT-X-STREAM-INF:BANDWIDTH=1",
            ),
            (
                "#EXT-X-MEDIA:PROGRAM-ID=1,X=2",
                "#EXT-X-MEDIA:PROGRAM-ID=1,X=2",
            ),
        ] {
            assert_eq!(without_program_id(line), expected);
        }
    }
}
