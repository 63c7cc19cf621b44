//! Human-readable names `mp4info` prints beside numeric codes, as Bento4 names them.

use crate::media::{Codec, TrackKind};

pub fn track_type(kind: &TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "Video",
        TrackKind::Audio => "Audio",
        TrackKind::Other(handler) => match handler {
            b"hint" => "Hint",
            b"text" | b"sbtl" => "Text",
            b"subt" => "Subtitles",
            b"meta" => "Metadata",
            _ => "Unknown",
        },
    }
}

/// `tkhd` flag bits (ISO/IEC 14496-12 §8.3.2).
pub fn track_flag_names(flags: u32) -> Vec<&'static str> {
    [
        (1, "ENABLED"),
        (2, "IN-MOVIE"),
        (4, "IN-PREVIEW"),
        (8, "IN-POSTER"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|&(_, name)| name)
    .collect()
}

/// The codecs string mp4info reports: RFC 6381 for what we mux, and for any other
/// sample entry (`tx3g`, `text`, `tmcd`, `wvtt`, …) its four-character code, as Bento4
/// does, rather than nothing. Only a report: the muxers go by `codecs_string`.
pub fn described_codecs(codec: &Codec) -> Option<String> {
    match codec {
        Codec::Unsupported(fourcc) => {
            let text = String::from_utf8_lossy(fourcc);
            let printable = fourcc.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            printable.then(|| text.trim_end().to_string())
        }
        known => crate::mp4::codecs_string(known),
    }
}

pub fn coding_name(codec: &Codec) -> &'static str {
    match codec {
        Codec::Avc(_) => "H.264",
        Codec::Hevc(_) => "H.265",
        Codec::Aac(_) => "MPEG-4 Audio",
        Codec::Mp3(_) => "MPEG Audio",
        Codec::Ac3(_) => "AC-3",
        Codec::Eac3(_) => "Enhanced AC-3",
        Codec::Unsupported(_) => "Unknown",
    }
}

pub fn avc_profile(profile: u8) -> &'static str {
    match profile {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        _ => "Unknown",
    }
}

pub fn hevc_profile(profile: u8) -> &'static str {
    match profile {
        1 => "Main",
        2 => "Main 10",
        3 => "Main Still Picture",
        4 => "Rext",
        _ => "Unknown",
    }
}

/// general_level_idc is 30 times the level number ("3.1" is 93).
pub fn hevc_level(level: u8) -> String {
    let (major, minor) = (level / 30, (level % 30) / 3);
    if minor == 0 {
        major.to_string()
    } else {
        format!("{major}.{minor}")
    }
}

pub fn chroma_format(format: u8) -> &'static str {
    match format {
        0 => "Monochrome",
        1 => "4:2:0",
        2 => "4:2:2",
        3 => "4:4:4",
        _ => "Unknown",
    }
}

pub fn hevc_nal_type(nal_type: u8) -> &'static str {
    match nal_type {
        32 => "VPS_NUT - Video parameter set",
        33 => "SPS_NUT - Sequence parameter set",
        34 => "PPS_NUT - Picture parameter set",
        39 => "PREFIX_SEI_NUT - Supplemental enhancement information",
        40 => "SUFFIX_SEI_NUT - Supplemental enhancement information",
        _ => "Unknown",
    }
}

/// ISO/IEC 14496-1 objectTypeIndication.
pub fn object_type_indication(oti: u8) -> &'static str {
    match oti {
        0x40 => "MPEG-4 Audio",
        0x66 => "MPEG-2 AAC Main Profile",
        0x67 => "MPEG-2 AAC Low Complexity Profile",
        0x68 => "MPEG-2 AAC Scalable Sampling Rate Profile",
        0x69 => "MPEG-2 Audio",
        0x6b => "MPEG-1 Audio",
        _ => "Unknown",
    }
}

pub fn stream_type(stream_type: u8) -> &'static str {
    match stream_type {
        4 => "Visual",
        5 => "Audio",
        _ => "Unknown",
    }
}

/// ISO/IEC 14496-3 audioObjectType.
pub fn audio_object_type(object_type: u8) -> &'static str {
    match object_type {
        1 => "AAC Main Profile",
        2 => "AAC Low Complexity",
        3 => "AAC Scalable Sample Rate",
        4 => "AAC Long Term Prediction",
        5 => "Spectral Band Replication",
        6 => "AAC Scalable",
        17 => "Error Resilient AAC Low Complexity",
        20 => "Error Resilient AAC Scalable",
        23 => "Error Resilient AAC Low Delay",
        29 => "Parametric Stereo",
        39 => "Error Resilient AAC Enhanced Low Delay",
        42 => "Unified Speech and Audio Coding",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_sample_entries_report_their_fourcc_as_codecs() {
        assert_eq!(
            described_codecs(&Codec::Unsupported(*b"tx3g")).as_deref(),
            Some("tx3g")
        );
        assert_eq!(
            described_codecs(&Codec::Unsupported(*b"tmcd")).as_deref(),
            Some("tmcd")
        );
        assert_eq!(
            described_codecs(&Codec::Unsupported(*b"mp4s")).as_deref(),
            Some("mp4s")
        );
        assert_eq!(described_codecs(&Codec::Unsupported([0, 1, 2, 3])), None);
        assert_eq!(
            crate::mp4::codecs_string(&Codec::Unsupported(*b"tx3g")),
            None
        );
    }

    #[test]
    fn names() {
        assert_eq!(track_flag_names(3), vec!["ENABLED", "IN-MOVIE"]);
        assert_eq!(track_flag_names(0), Vec::<&str>::new());
        assert_eq!(hevc_level(93), "3.1");
        assert_eq!(hevc_level(120), "4");
        assert_eq!(hevc_level(0), "0");
        assert_eq!(avc_profile(100), "High");
        assert_eq!(audio_object_type(2), "AAC Low Complexity");
        assert_eq!(track_type(&TrackKind::Other(*b"zzzz")), "Unknown");
    }
}
