//! Cue timing, which a sidecar must have right to be served, and SubRip (`.srt`)
//! sidecars turned into WebVTT. Pure: text in, text or a reason out.

/// Milliseconds of a cue timestamp: WebVTT's `[hh:]mm:ss.ttt`, or SubRip's
/// `hh:mm:ss,ttt` when `comma`.
pub fn timestamp_ms(text: &str, comma: bool) -> Option<u64> {
    let (clock, millis) = text.split_once(if comma { ',' } else { '.' })?;
    let fields: Vec<&str> = clock.split(':').collect();
    let (h, m, s) = match fields.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] if !comma => ("0", *m, *s),
        _ => return None,
    };
    let digits = |t: &str, len: Option<usize>| {
        let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        (ok && len.is_none_or(|l| t.len() == l))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    let (h, m, s, ms) = (
        digits(h, None)?,
        digits(m, Some(2))?,
        digits(s, Some(2))?,
        digits(millis, Some(3))?,
    );
    if m > 59 || s > 59 || h > 99_999 {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + ms)
}

/// The start and end of a cue timing line (`start --> end [settings]`).
pub fn cue_timing(line: &str, comma: bool) -> Result<(u64, u64), String> {
    let broken = || format!("broken cue timing {line:?}");
    let (start, rest) = line.split_once("-->").ok_or_else(broken)?;
    let end = rest.split_whitespace().next().ok_or_else(broken)?;
    let start = timestamp_ms(start.trim(), comma).ok_or_else(broken)?;
    let end = timestamp_ms(end, comma).ok_or_else(broken)?;
    if end < start {
        return Err(format!("cue ends before it starts: {line:?}"));
    }
    Ok((start, end))
}

/// Checks every cue of a WebVTT body (the blocks after the header): a block whose
/// first or second line holds `-->` is a cue, and its timing must parse. Returns how
/// many cues there are.
pub fn check_webvtt_cues(body: &str) -> Result<usize, String> {
    let mut cues = 0;
    for block in blocks(body) {
        let timing = block.iter().take(2).find(|l| l.contains("-->"));
        if let Some(line) = timing {
            cue_timing(line, false)?;
            cues += 1;
        }
    }
    Ok(cues)
}

/// A WebVTT text with only the cues that overlap `[from, to)` ms: its header block and
/// the blocks before its first cue (styles, regions) kept, later notes dropped.
pub fn window(webvtt: &str, from: u64, to: u64) -> String {
    let (header, body) = webvtt.split_once("\n\n").unwrap_or((webvtt, ""));
    let mut out = String::with_capacity(header.len() + 64);
    out.push_str(header);
    out.push('\n');
    let mut seen_cue = false;
    for block in blocks(body) {
        let timing = block.iter().take(2).find(|l| l.contains("-->"));
        let keep = match timing.map(|line| cue_timing(line, false)) {
            Some(Ok((start, end))) => {
                seen_cue = true;
                start < to && (end > from || (start == end && start >= from))
            }
            // Prepared text has only well-timed cues; anything else is a header block.
            Some(Err(_)) => false,
            None => !seen_cue && !block.first().is_some_and(|l| l.starts_with("NOTE")),
        };
        if keep {
            out.push('\n');
            for line in block {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// A prepared WebVTT text as one whole file on a timeline that starts `shift_ms`
/// before the text's time 0 (a DASH period, where nothing maps timestamps): each cue's
/// timing and inline timestamps moved by `shift_ms`, any `X-TIMESTAMP-MAP` dropped.
pub fn shifted(webvtt: &str, shift_ms: u64) -> String {
    let (header, body) = webvtt.split_once("\n\n").unwrap_or((webvtt, ""));
    let mut out = String::with_capacity(webvtt.len() + 64);
    for line in header.lines().filter(|l| !l.starts_with("X-TIMESTAMP-MAP")) {
        out.push_str(line);
        out.push('\n');
    }
    for block in blocks(body) {
        out.push('\n');
        let timing = block.iter().take(2).position(|l| l.contains("-->"));
        for (at, line) in block.iter().enumerate() {
            match (timing, cue_timing(line, false)) {
                (Some(t), Ok((start, end))) if t == at => {
                    let settings = line
                        .split_once("-->")
                        .and_then(|(_, rest)| rest.trim_start().split_once(char::is_whitespace))
                        .map(|(_, settings)| settings.trim())
                        .filter(|s| !s.is_empty());
                    out.push_str(&vtt_time(start + shift_ms));
                    out.push_str(" --> ");
                    out.push_str(&vtt_time(end + shift_ms));
                    if let Some(settings) = settings {
                        out.push(' ');
                        out.push_str(settings);
                    }
                }
                (Some(t), _) if at > t => out.push_str(&inline_shifted(line, shift_ms)),
                _ => out.push_str(line),
            }
            out.push('\n');
        }
    }
    out
}

/// A cue text line with its inline timestamps (`<00:01.500>`, karaoke) moved.
fn inline_shifted(line: &str, shift_ms: u64) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        let Some(close) = tag.find('>') else {
            rest = tag;
            break;
        };
        match timestamp_ms(&tag[1..close], false) {
            Some(ms) => {
                out.push('<');
                out.push_str(&vtt_time(ms + shift_ms));
                out.push('>');
            }
            None => out.push_str(&tag[..=close]),
        }
        rest = &tag[close + 1..];
    }
    out.push_str(rest);
    out
}

/// WebVTT from a SubRip file's text (UTF-8, BOM and CRs already gone): each block's
/// counter dropped, its timing written with WebVTT's `.`; a block without a valid
/// timing line is broken timing.
pub fn srt_to_webvtt(text: &str) -> Result<String, String> {
    let mut out = String::from("WEBVTT\n");
    let mut cues = 0;
    for block in blocks(text) {
        let mut lines = block.iter().copied().peekable();
        if lines
            .peek()
            .is_some_and(|l| !l.is_empty() && l.trim().bytes().all(|b| b.is_ascii_digit()))
        {
            lines.next();
        }
        let timing = lines.next().unwrap_or_default();
        let (start, end) = cue_timing(timing, true)?;
        out.push('\n');
        out.push_str(&format!("{} --> {}\n", vtt_time(start), vtt_time(end)));
        for line in lines {
            // A cue's text may not hold the timing arrow.
            out.push_str(&line.replace("-->", "->"));
            out.push('\n');
        }
        cues += 1;
    }
    if cues == 0 {
        return Err("has no cue".into());
    }
    Ok(out)
}

/// Blank-line separated blocks, each its lines (blank runs of any length separate).
fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub(super) fn vtt_time(ms: u64) -> String {
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_both_formats() {
        assert_eq!(timestamp_ms("00:00:01.500", false), Some(1500));
        assert_eq!(timestamp_ms("01:02.003", false), Some(62_003));
        assert_eq!(timestamp_ms("100:00:00.000", false), Some(360_000_000));
        assert_eq!(timestamp_ms("00:00:01,500", true), Some(1500));
        for bad in [
            "00:00:01,500",
            "0:0:1.5",
            "00:60:00.000",
            "00:00:01.5",
            "x",
            "",
        ] {
            assert_eq!(timestamp_ms(bad, false), None, "{bad}");
        }
        assert_eq!(
            timestamp_ms("01:02,003", true),
            None,
            "SubRip always has hours"
        );
    }

    #[test]
    fn cue_timings_must_parse_and_run_forward() {
        assert_eq!(
            cue_timing("00:01.000 --> 00:02.000 line:0 align:start", false),
            Ok((1000, 2000))
        );
        assert!(cue_timing("00:03.000 --> 00:02.000", false)
            .unwrap_err()
            .contains("before"));
        assert!(cue_timing("00:01.000 -> 00:02.000", false).is_err());
        assert!(cue_timing("00:01.000 --> ", false).is_err());
        assert_eq!(
            check_webvtt_cues(
                "NOTE a note\n\nid\n00:01.000 --> 00:02.000\nhi\n\n\n00:03.000 --> 00:04.000\nho\n"
            ),
            Ok(2)
        );
        assert!(check_webvtt_cues("00:01.000 --> 00:0x.000\nhi\n").is_err());
    }

    #[test]
    fn a_window_keeps_the_cues_it_overlaps() {
        let vtt = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\nSTYLE\n::cue { color: yellow }\n\n\
                   00:01.000 --> 00:03.000\nearly\n\n00:05.000 --> 00:07.000\nacross\n\n\
                   NOTE later\n\n00:06.000 --> 00:06.000\nmoment\n\n00:09.000 --> 00:12.000\nlate\n";
        let header = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\nSTYLE\n::cue { color: yellow }\n";
        assert_eq!(
            window(vtt, 0, 6000),
            format!(
                "{header}\n00:01.000 --> 00:03.000\nearly\n\n00:05.000 --> 00:07.000\nacross\n"
            )
        );
        assert_eq!(
            window(vtt, 6000, 12000),
            format!("{header}\n00:05.000 --> 00:07.000\nacross\n\n00:06.000 --> 00:06.000\nmoment\n\n00:09.000 --> 00:12.000\nlate\n")
        );
        assert_eq!(
            window(vtt, 12000, 18000),
            header,
            "a cue ending at the start is not in it"
        );
    }

    #[test]
    fn a_shifted_text_moves_every_time_and_drops_the_map() {
        let vtt = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\nSTYLE\n::cue { color: yellow }\n\n\
                   intro\n00:01.000 --> 00:03.000 line:0 align:start\nfirst <00:02.000>word\n\n\
                   NOTE 00:09.000 --> stays\n\n59:59.999 --> 01:00:00.000\nlate <b>bold</b> a<b\n";
        assert_eq!(
            shifted(vtt, 1_500),
            "WEBVTT\n\nSTYLE\n::cue { color: yellow }\n\n\
             intro\n00:00:02.500 --> 00:00:04.500 line:0 align:start\nfirst <00:00:03.500>word\n\n\
             NOTE 00:09.000 --> stays\n\n01:00:01.499 --> 01:00:01.500\nlate <b>bold</b> a<b\n"
        );
        assert_eq!(shifted("WEBVTT\n", 10), "WEBVTT\n");
    }

    #[test]
    fn subrip_becomes_webvtt() {
        let srt = "1\n00:00:01,000 --> 00:00:03,000\nHello\nthere\n\n\n2\n01:00:04,250 --> 01:00:06,500 X1:10\nWorld --> end\n";
        assert_eq!(
            srt_to_webvtt(srt).unwrap(),
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\nthere\n\n01:00:04.250 --> 01:00:06.500\nWorld -> end\n"
        );
        assert!(srt_to_webvtt("1\nHello\n").unwrap_err().contains("timing"));
        assert!(srt_to_webvtt("\n\n").unwrap_err().contains("no cue"));
        assert!(srt_to_webvtt("1\n00:00:05,000 --> 00:00:01,000\nx\n")
            .unwrap_err()
            .contains("before"));
    }
}
