//! 3GPP timed text (`tx3g`, what ffmpeg's `mov_text` writes; 3GPP TS 26.245) as
//! WebVTT: each sample is a 16-bit text length, the text (UTF-8, or UTF-16 after a
//! BOM) and style boxes, which are dropped. Pure: sample bytes in, cues out.

use crate::error::Mp4Error;
use crate::media::{Codec, Sample, Track};

/// Timed text tracks: the `tx3g` sample entries.
pub fn is_timed_text(track: &Track) -> bool {
    track.codec == Codec::Unsupported(*b"tx3g")
}

/// One cue, on the movie's presentation timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// The text of one sample; empty for the gaps muxers write between cues.
pub fn sample_text(bytes: &[u8]) -> Result<String, Mp4Error> {
    let corrupt = |what: &str| Mp4Error::Corrupt(format!("timed text sample: {what}"));
    let Some((length, rest)) = bytes.split_first_chunk::<2>() else {
        return if bytes.is_empty() {
            Ok(String::new())
        } else {
            Err(corrupt("shorter than its length field"))
        };
    };
    let length = usize::from(u16::from_be_bytes(*length));
    let text = rest
        .get(..length)
        .ok_or_else(|| corrupt("text longer than the sample"))?;
    if let Some(utf16) = text.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = utf16
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
                _ => Err(corrupt("odd UTF-16 length")),
            })
            .collect::<Result<_, _>>()?;
        return String::from_utf16(&units).map_err(|_| corrupt("bad UTF-16"));
    }
    Ok(String::from_utf8_lossy(text).into_owned())
}

/// The cues of a timed text track, `read` giving each sample's bytes. Times are the
/// samples' presentation times with the track's edit list applied (ms, floored at 0).
pub fn cues(
    track: &Track,
    mut read: impl FnMut(&Sample) -> Result<Vec<u8>, Mp4Error>,
) -> Result<Vec<Cue>, Mp4Error> {
    let scale = i128::from(track.timescale.max(1));
    let shift = i128::from(track.edit.empty_duration) - i128::from(track.edit.media_start);
    let ms = |ticks: i128| u64::try_from((ticks * 1000 / scale).max(0)).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for sample in &track.samples {
        let text = sample_text(&read(&sample)?)?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let start = i128::from(sample.dts) + i128::from(sample.cts_offset) + shift;
        let end = start + i128::from(sample.duration);
        out.push(Cue {
            start_ms: ms(start),
            end_ms: ms(end),
            text: text.to_string(),
        });
    }
    Ok(out)
}

/// A WebVTT file of `cues`: cue text escaped (`&`, `<`, `>`), blank lines inside it
/// dropped (they would end the cue).
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        out.push('\n');
        out.push_str(&format!(
            "{} --> {}\n",
            timestamp(cue.start_ms),
            timestamp(cue.end_ms)
        ));
        for line in cue.text.lines().filter(|l| !l.trim().is_empty()) {
            let escaped = line
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            out.push_str(&escaped);
            out.push('\n');
        }
    }
    out
}

fn timestamp(ms: u64) -> String {
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{EditShift, SampleTable, TrackKind};

    fn sample(text: &[u8]) -> Vec<u8> {
        let mut bytes = (text.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(text);
        bytes.extend_from_slice(b"\0\0\0\x0cstyl\0\0\0\0"); // a style box, dropped
        bytes
    }

    #[test]
    fn sample_texts_in_either_encoding() {
        assert_eq!(sample_text(&sample(b"Hello")).unwrap(), "Hello");
        assert_eq!(sample_text(&sample(b"")).unwrap(), "");
        assert_eq!(sample_text(b"").unwrap(), "");
        let utf16 = [&[0xfe, 0xff][..], &[0, b'H', 0, b'i']].concat();
        assert_eq!(sample_text(&sample(&utf16)).unwrap(), "Hi");
        assert!(sample_text(&[0, 9, b'x']).is_err(), "text past the sample");
        assert!(sample_text(&[0]).is_err());
        assert!(sample_text(&sample(&[0xfe, 0xff, 0])).is_err());
    }

    #[test]
    fn cues_on_the_presentation_timeline_as_webvtt() {
        let samples = [
            (0, 1000, ""),
            (1000, 2000, "Hello"),
            (3000, 1000, ""),
            (4000, 2500, "Fish & <chips>\n\nagain"),
        ];
        let track = Track {
            id: 3,
            kind: TrackKind::Other(*b"sbtl"),
            flags: 1,
            timescale: 1000,
            duration: 6500,
            movie_duration: 6500,
            language: "eng".into(),
            name: String::new(),
            display_width: 0.0,
            display_height: 0.0,
            codec: Codec::Unsupported(*b"tx3g"),
            edit: EditShift {
                empty_duration: 0,
                media_start: 500,
            },
            samples: SampleTable::new(),
        };
        let mut track = track;
        for (i, &(dts, duration, _)) in samples.iter().enumerate() {
            track.samples.push(Sample {
                offset: i as u64,
                size: 1,
                dts,
                cts_offset: 0,
                sync: true,
                duration,
            });
        }
        assert!(is_timed_text(&track));
        let cues = cues(&track, |s| {
            Ok(sample(samples[s.offset as usize].2.as_bytes()))
        })
        .unwrap();
        assert_eq!(
            webvtt(&cues),
            "WEBVTT\n\n00:00:00.500 --> 00:00:02.500\nHello\n\n\
             00:00:03.500 --> 00:00:06.000\nFish &amp; &lt;chips&gt;\nagain\n"
        );
    }
}
