//! DFXP / TTML sidecars (MSOD's second sidecar format) turned into WebVTT. Pure: the
//! document's text in, WebVTT or a reason out.
//!
//! What a sidecar needs to be shown right is kept: every `<p>` becomes a cue at its
//! resolved time (`begin`/`end`/`dur` on `body`, `div`, `p`, relative to the parent's
//! begin in a `par` container and to the previous sibling's end in a `seq` one; clock
//! and offset times, frames and ticks by the `ttp:` rate parameters), its text with
//! `<br/>` as a line break and whitespace collapsed as `xml:space="default"` says, and
//! italic, bold and underline (inline `tts:` attributes or a referenced `<style>`) as
//! WebVTT's `<i>`, `<b>`, `<u>`. Layout (regions, colours, positions) is not carried:
//! players place WebVTT cues themselves. Any namespace counts (DFXP's 2006 ones and
//! TTML's), by local name.

use super::cues::vtt_time;
use roxmltree::{Document, Node, ParsingOptions};
use std::collections::HashMap;

/// Deeper nesting than any real document has is refused rather than walked.
const MAX_DEPTH: usize = 64;
/// A cue with no resolved end lasts to the end of the document's time, as TTML's
/// indefinite end does: WebVTT's largest sensible timestamp.
const INDEFINITE_MS: u64 = 99 * 3_600_000 + 59 * 60_000 + 59_999;
/// Largest time accepted, in seconds (the WebVTT clock's range).
const MAX_SECONDS: f64 = 360_000.0;

/// WebVTT from a DFXP/TTML document's text (UTF-8, BOM and CRs already gone).
pub fn ttml_to_webvtt(text: &str) -> Result<String, String> {
    let options = ParsingOptions {
        // No DTD: no entity expansion from a file we did not write.
        allow_dtd: false,
        nodes_limit: 1 << 20,
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "tt" {
        return Err(format!("not TTML: root is <{}>", root.tag_name().name()));
    }
    let clock = Clock::of(root)?;
    let styles = styles(root);
    let Some(body) = child(root, "body") else {
        return Err("has no cue".into());
    };
    let mut cues = Vec::new();
    let walk = Walk {
        clock: &clock,
        styles: &styles,
    };
    walk.timed(body, 0.0, None, 0, &mut cues)?;
    if cues.is_empty() {
        return Err("has no cue".into());
    }
    cues.sort_by_key(|c| (c.0, c.1));
    let mut out = String::from("WEBVTT\n");
    for (start, end, text) in cues {
        out.push('\n');
        out.push_str(&format!(
            "{} --> {}\n{text}\n",
            vtt_time(start),
            vtt_time(end)
        ));
    }
    Ok(out)
}

/// The document's time parameters (`ttp:frameRate`, `subFrameRate`,
/// `frameRateMultiplier`, `tickRate`), with TTML's defaults.
struct Clock {
    frame_rate: f64,
    sub_frame_rate: f64,
    tick_rate: f64,
}

impl Clock {
    fn of(tt: Node) -> Result<Clock, String> {
        let number = |name: &str| -> Result<Option<f64>, String> {
            match attribute(tt, name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
                    _ => Err(format!("bad ttp:{name} {v:?}")),
                },
            }
        };
        let multiplier = match attribute(tt, "frameRateMultiplier") {
            None => 1.0,
            Some(v) => {
                let parts: Vec<f64> = v
                    .split_whitespace()
                    .map(|p| p.parse::<f64>().unwrap_or(0.0))
                    .collect();
                match parts.as_slice() {
                    [n, d] if *n > 0.0 && *d > 0.0 => n / d,
                    _ => return Err(format!("bad ttp:frameRateMultiplier {v:?}")),
                }
            }
        };
        let frames = number("frameRate")?;
        let sub_frame_rate = number("subFrameRate")?.unwrap_or(1.0);
        let frame_rate = frames.unwrap_or(30.0) * multiplier;
        let tick_rate = match number("tickRate")? {
            Some(rate) => rate,
            None if frames.is_some() => frame_rate * sub_frame_rate,
            None => 1.0,
        };
        Ok(Clock {
            frame_rate,
            sub_frame_rate,
            tick_rate,
        })
    }

    /// Seconds of a time expression: clock time `hh:mm:ss[.fraction]` or
    /// `hh:mm:ss:frames[.subframes]`, or offset time `<number>(h|m|s|ms|f|t)`.
    fn seconds(&self, expr: &str) -> Option<f64> {
        let expr = expr.trim();
        let seconds = if expr.contains(':') {
            let fields: Vec<&str> = expr.split(':').collect();
            let (h, m, s, frames) = match fields.as_slice() {
                [h, m, s] => (*h, *m, *s, None),
                [h, m, s, f] => (*h, *m, *s, Some(*f)),
                _ => return None,
            };
            let whole = |t: &str, len: Option<usize>| {
                let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
                (ok && len.is_none_or(|l| t.len() == l))
                    .then(|| t.parse::<f64>().ok())
                    .flatten()
            };
            let (h, m) = (whole(h, None)?, whole(m, Some(2))?);
            let s = match frames {
                None => decimal(s).filter(|_| s.split('.').next().is_some_and(|w| w.len() == 2))?,
                Some(_) => whole(s, Some(2))?,
            };
            if m >= 60.0 || s >= 60.0 {
                return None;
            }
            let frames = match frames {
                None => 0.0,
                Some(f) => {
                    let (f, sub) = f.split_once('.').unwrap_or((f, "0"));
                    whole(f, None)? / self.frame_rate
                        + whole(sub, None)? / (self.frame_rate * self.sub_frame_rate)
                }
            };
            h * 3600.0 + m * 60.0 + s + frames
        } else {
            let at = expr.find(|c: char| c.is_ascii_alphabetic())?;
            let (number, metric) = expr.split_at(at);
            let n = decimal(number)?;
            match metric {
                "h" => n * 3600.0,
                "m" => n * 60.0,
                "s" => n,
                "ms" => n / 1000.0,
                "f" => n / self.frame_rate,
                "t" => n / self.tick_rate,
                _ => return None,
            }
        };
        (seconds.is_finite() && (0.0..MAX_SECONDS).contains(&seconds)).then_some(seconds)
    }
}

/// A non-negative decimal number: digits, optionally `.` and digits.
fn decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction))
        .then(|| text.parse::<f64>().ok())
        .flatten()
}

/// The emphasis WebVTT can carry, as its tags, in a fixed order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Emphasis {
    italic: bool,
    bold: bool,
    underline: bool,
}

impl Emphasis {
    /// What `node`'s own `tts:` attributes say, over `base`.
    fn of(node: Node, base: Emphasis) -> Emphasis {
        let mut e = base;
        if let Some(v) = attribute(node, "fontStyle") {
            e.italic = v == "italic" || v == "oblique";
        }
        if let Some(v) = attribute(node, "fontWeight") {
            e.bold = v == "bold";
        }
        if let Some(v) = attribute(node, "textDecoration") {
            if v.contains("noUnderline") {
                e.underline = false;
            } else if v.contains("underline") {
                e.underline = true;
            }
        }
        e
    }

    fn tags(self) -> impl Iterator<Item = &'static str> {
        [(self.italic, "i"), (self.bold, "b"), (self.underline, "u")]
            .into_iter()
            .filter_map(|(on, tag)| on.then_some(tag))
    }
}

/// The `<style xml:id=…>` definitions of the head, each with the emphasis it sets (a
/// style's own `style` references resolved one level).
fn styles(tt: Node) -> HashMap<String, Emphasis> {
    let defined: Vec<Node> = tt
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "style" && n.ancestors().any(|a| a.tag_name().name() == "head")
        })
        .collect();
    let id = |n: &Node| {
        n.attributes()
            .find(|a| a.name() == "id")
            .map(|a| a.value().to_string())
    };
    let own: HashMap<String, Node> = defined.iter().filter_map(|n| Some((id(n)?, *n))).collect();
    own.iter()
        .map(|(name, node)| {
            let mut base = Emphasis::default();
            for referenced in attribute(*node, "style")
                .unwrap_or_default()
                .split_whitespace()
            {
                if let Some(r) = own.get(referenced) {
                    base = Emphasis::of(*r, base);
                }
            }
            (name.clone(), Emphasis::of(*node, base))
        })
        .collect()
}

struct Walk<'a> {
    clock: &'a Clock,
    styles: &'a HashMap<String, Emphasis>,
}

type Cue = (u64, u64, String);

impl Walk<'_> {
    /// Resolves `node`'s interval from its reference begin and its parent's end (in
    /// seconds; `None`: indefinite), emits a cue for a `p`, descends into the timed
    /// children of anything else. Returns the node's end, for a `seq` parent.
    fn timed(
        &self,
        node: Node,
        reference: f64,
        parent_end: Option<f64>,
        depth: usize,
        cues: &mut Vec<Cue>,
    ) -> Result<Option<f64>, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deep".into());
        }
        let time = |name: &str| -> Result<Option<f64>, String> {
            match attribute(node, name) {
                None => Ok(None),
                Some(v) => self
                    .clock
                    .seconds(v)
                    .map(Some)
                    .ok_or_else(|| format!("broken time {name}={v:?}")),
            }
        };
        let begin = reference + time("begin")?.unwrap_or(0.0);
        let own_end = match (time("end")?, time("dur")?) {
            (Some(end), Some(dur)) => Some((reference + end).min(begin + dur)),
            (Some(end), None) => Some(reference + end),
            (None, Some(dur)) => Some(begin + dur),
            (None, None) => None,
        };
        let end = match (own_end, parent_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if end.is_some_and(|end| end < begin) {
            return Err(format!(
                "<{}> ends before it begins",
                node.tag_name().name()
            ));
        }
        if node.tag_name().name() == "p" {
            let emphasis = self.emphasis(node, Emphasis::default());
            let mut text = String::new();
            self.text(node, emphasis, depth, &mut text)?;
            let mut text = lines(&text);
            if !text.is_empty() {
                let tags: Vec<&str> = emphasis.tags().collect();
                let opening: String = tags.iter().map(|t| format!("<{t}>")).collect();
                let closing: String = tags.iter().rev().map(|t| format!("</{t}>")).collect();
                text = format!("{opening}{text}{closing}");
                let ms = |s: f64| ((s * 1000.0).round() as u64).min(INDEFINITE_MS);
                cues.push((ms(begin), end.map_or(INDEFINITE_MS, ms), text));
            }
            return Ok(end);
        }
        let seq = attribute(node, "timeContainer") == Some("seq");
        let mut next = begin;
        for c in node.children().filter(|c| is_timed(c)) {
            let child_end = self.timed(c, next, end, depth + 1, cues)?;
            if seq {
                match child_end {
                    Some(e) => next = e,
                    // An indefinite child never ends: nothing after it begins.
                    None => break,
                }
            }
        }
        Ok(end)
    }

    /// The emphasis of `node`: its referenced styles, then its own attributes.
    fn emphasis(&self, node: Node, base: Emphasis) -> Emphasis {
        let mut e = base;
        for name in attribute(node, "style")
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Some(style) = self.styles.get(name) {
                e = Emphasis {
                    italic: e.italic || style.italic,
                    bold: e.bold || style.bold,
                    underline: e.underline || style.underline,
                };
            }
        }
        Emphasis::of(node, e)
    }

    /// The cue text of a `p`'s content, escaped for WebVTT: `br` a line break, spans in
    /// their emphasis tags, whitespace runs as one space.
    fn text(
        &self,
        node: Node,
        outer: Emphasis,
        depth: usize,
        out: &mut String,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("nested too deep".into());
        }
        for c in node.children() {
            if c.is_text() {
                let mut space = false;
                for ch in c.text().unwrap_or_default().chars() {
                    if ch.is_whitespace() {
                        space = true;
                        continue;
                    }
                    if space && !out.ends_with(['\n', ' ']) && !out.is_empty() {
                        out.push(' ');
                    }
                    space = false;
                    match ch {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        ch => out.push(ch),
                    }
                }
                if space && !out.is_empty() && !out.ends_with(['\n', ' ']) {
                    out.push(' ');
                }
                continue;
            }
            match c.tag_name().name() {
                "br" if c.is_element() => out.push('\n'),
                "span" if c.is_element() => {
                    let inner = self.emphasis(c, outer);
                    let opened: Vec<&str> = inner
                        .tags()
                        .filter(|t| !outer.tags().any(|o| o == *t))
                        .collect();
                    for tag in &opened {
                        out.push_str(&format!("<{tag}>"));
                    }
                    self.text(c, inner, depth + 1, out)?;
                    for tag in opened.iter().rev() {
                        out.push_str(&format!("</{tag}>"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Cue text from collected text: each line trimmed of spaces, empty lines dropped (a
/// blank line would end the cue).
fn lines(text: &str) -> String {
    text.split('\n')
        .map(|l| l.trim_matches(' '))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_timed(node: &Node) -> bool {
    node.is_element() && matches!(node.tag_name().name(), "div" | "p")
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// An attribute by local name, whatever its namespace (`ttp:`, `tts:` or none).
fn attribute<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name() == name)
        .map(|a| a.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_ffmpeg_writes_becomes_webvtt() {
        // ffmpeg -i x.srt -f ttml x.ttml, as ffmpeg 5.1 writes it.
        let ttml = r#"<?xml version="1.0" encoding="utf-8"?>
<tt
  xmlns="http://www.w3.org/ns/ttml"
  xmlns:tts="http://www.w3.org/ns/ttml#styling"
  xmlns:ttp="http://www.w3.org/ns/ttml#parameter"
  ttp:cellResolution="384 288"
  xml:lang="">
  <head>
    <layout>
      <region xml:id="Default" tts:origin="3% 0%" tts:extent="97% 97%" />
    </layout>
  </head>
  <body>
    <div>
      <p
        begin="00:00:01.000"
        end="00:00:03.500"><span region="Default">Hello there &amp; you<br/>second line</span></p>
      <p
        begin="00:00:05.000"
        end="00:00:06.000"><span region="Default">Bye</span></p>
    </div>
  </body>
</tt>"#;
        assert_eq!(
            ttml_to_webvtt(ttml).unwrap(),
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.500\nHello there &amp; you\nsecond line\n\n\
             00:00:05.000 --> 00:00:06.000\nBye\n"
        );
    }

    #[test]
    fn dfxp_times_nesting_and_styles() {
        // The 2006 DFXP namespace, ticks, frames, a div offset, dur, a seq container,
        // styles by reference and inline, whitespace across lines.
        let dfxp = r#"<tt xmlns="http://www.w3.org/2006/10/ttaf1"
    xmlns:tts="http://www.w3.org/2006/10/ttaf1#styling"
    xmlns:ttp="http://www.w3.org/2006/10/ttaf1#parameter"
    ttp:tickRate="10000000" ttp:frameRate="25">
  <head><styling>
    <style xml:id="em" tts:fontStyle="italic"/>
    <style xml:id="strong" style="em" tts:fontWeight="bold"/>
  </styling></head>
  <body>
    <div begin="10s">
      <p begin="20000000t" end="40000000t">ticks
         after a <span style="em">tilted</span> word</p>
      <p begin="00:00:05:10" dur="1.5s" style="strong">frames</p>
      <p begin="1m" end="61000ms"><span tts:textDecoration="underline">under</span> 1 &lt; 2</p>
    </div>
    <div begin="100s" timeContainer="seq">
      <p dur="2s">first</p>
      <p dur="3s">second</p>
    </div>
    <div begin="200s" end="201s"><p begin="0.5s">clamped by its div</p><p>   </p></div>
  </body>
</tt>"#;
        assert_eq!(
            ttml_to_webvtt(dfxp).unwrap(),
            "WEBVTT\n\n\
             00:00:12.000 --> 00:00:14.000\nticks after a <i>tilted</i> word\n\n\
             00:00:15.400 --> 00:00:16.900\n<i><b>frames</b></i>\n\n\
             00:01:10.000 --> 00:01:11.000\n<u>under</u> 1 &lt; 2\n\n\
             00:01:40.000 --> 00:01:42.000\nfirst\n\n\
             00:01:42.000 --> 00:01:45.000\nsecond\n\n\
             00:03:20.500 --> 00:03:21.000\nclamped by its div\n"
        );
    }

    #[test]
    fn a_cue_without_an_end_lasts_to_the_end() {
        let ttml = r#"<tt xmlns="http://www.w3.org/ns/ttml"><body><div><p begin="2s">on</p></div></body></tt>"#;
        assert_eq!(
            ttml_to_webvtt(ttml).unwrap(),
            "WEBVTT\n\n00:00:02.000 --> 99:59:59.999\non\n"
        );
    }

    #[test]
    fn broken_documents_are_refused_with_a_reason() {
        let refused = |text: &str, reason: &str| {
            let err = ttml_to_webvtt(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        };
        refused("<tt><body><p begin=\"1s\">x</body></tt>", "not XML");
        refused("<html><body/></html>", "not TTML");
        refused("<tt><body><div/></body></tt>", "no cue");
        refused("<tt><head/></tt>", "no cue");
        refused(
            "<tt><body><p begin=\"1x\" end=\"2s\">x</p></body></tt>",
            "broken time",
        );
        refused(
            "<tt><body><p begin=\"00:61:00.000\" end=\"2s\">x</p></body></tt>",
            "broken time",
        );
        refused(
            "<tt><body><p begin=\"3s\" end=\"2s\">x</p></body></tt>",
            "ends before",
        );
        refused(
            "<tt ttp:frameRate=\"0\" xmlns:ttp=\"p\"><body/></tt>",
            "frameRate",
        );
        // No DTD, so no entity expansion.
        refused(
            "<!DOCTYPE tt [<!ENTITY a \"aaaa\">]><tt><body><p begin=\"1s\" end=\"2s\">&a;</p></body></tt>",
            "not XML",
        );
        let deep = format!(
            "<tt><body>{}<p begin=\"1s\" end=\"2s\">x</p>{}</body></tt>",
            "<div>".repeat(100),
            "</div>".repeat(100)
        );
        refused(&deep, "too deep");
    }

    #[test]
    fn time_expressions() {
        let clock = Clock {
            frame_rate: 30.0 * 1000.0 / 1001.0,
            sub_frame_rate: 1.0,
            tick_rate: 90_000.0,
        };
        let at = |e: &str| clock.seconds(e);
        assert_eq!(at("01:02:03.5"), Some(3723.5));
        assert_eq!(at("100:00:00"), None, "past the WebVTT clock");
        assert_eq!(at("1.5h"), Some(5400.0));
        assert_eq!(at("90000t"), Some(1.0));
        assert_eq!(at("250ms"), Some(0.25));
        assert!((at("00:00:01:15").unwrap() - (1.0 + 15.0 * 1001.0 / 30000.0)).abs() < 1e-9);
        for bad in [
            "",
            "1",
            "1.s",
            "-1s",
            "1:2:3",
            "00:00:1.0",
            "0x10s",
            "1e3s",
            "00:00:00:00:00",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
