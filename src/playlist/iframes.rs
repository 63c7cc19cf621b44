//! I-frame playlists (RFC 8216 4.3.3.6, `EXT-X-I-FRAMES-ONLY`) over the TS segments a
//! plan lays out, and the master's `EXT-X-I-FRAME-STREAM-INF` lines. Pure.
//!
//! Each entry is one keyframe: its byte range in the segment file (the PAT and PMT
//! before it and its PES, so a player can decode it alone) and, as its duration, the
//! time to the next keyframe (the title's end for the last). The segment files are
//! the ones the media playlist lists, so trick play costs no second cache.

use super::target_duration;
use std::fmt::Write;

/// Keyframes of one segment: (playlist seconds, offset, size) in its TS file.
pub type SegmentIFrames = Vec<(f64, u64, u64)>;

/// The I-frame playlist of rendition `index` (URIs `segment<K>_<index>_av.ts`).
pub fn media(durations: &[f64], iframes: &[SegmentIFrames], index: usize) -> String {
    let total: f64 = durations.iter().sum();
    let entries: Vec<(usize, f64, u64, u64)> = iframes
        .iter()
        .enumerate()
        .flat_map(|(k, frames)| frames.iter().map(move |&(t, o, s)| (k, t, o, s)))
        .collect();
    let lengths: Vec<f64> = entries
        .iter()
        .enumerate()
        .map(|(j, &(_, time, _, _))| {
            let next = entries.get(j + 1).map_or(total, |e| e.1);
            (next - time).max(0.0)
        })
        .collect();
    let mut out = String::with_capacity(160 + entries.len() * 64);
    // BYTERANGE and I-FRAMES-ONLY need version 4.
    out.push_str("#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str("#EXT-X-I-FRAMES-ONLY\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(&lengths));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:1\n");
    for (&(k, _, offset, size), length) in entries.iter().zip(&lengths) {
        let _ = write!(
            out,
            "#EXTINF:{length:.6},\n#EXT-X-BYTERANGE:{size}@{offset}\nsegment{}_{index}_av.ts\n",
            k + 1
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One `#EXT-X-I-FRAME-STREAM-INF` line.
#[derive(Debug, Clone, PartialEq)]
pub struct IFrameStream {
    pub uri: String,
    /// Peak I-frame bit rate (keyframe bytes over the time each one stands for).
    pub bandwidth: f64,
    pub average_bandwidth: f64,
    /// The video codec only: an I-frame stream carries no audio.
    pub codec: String,
    pub resolution: Option<(u32, u32)>,
}

/// The lines a master lists after its variants, one per stream.
pub fn stream_infs(streams: &[IFrameStream]) -> String {
    let mut out = String::new();
    for s in streams {
        // BANDWIDTH is an upper bound: round up, and never 0 (a required attribute
        // that 0 would make meaningless).
        let average = s.average_bandwidth.max(0.0).ceil() as u64;
        let peak = (s.bandwidth.max(0.0).ceil() as u64).max(average).max(1);
        let _ = write!(
            out,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{}\"",
            s.codec
        );
        if let Some((w, h)) = s.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        let _ = writeln!(out, ",URI=\"{}\"", s.uri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_keyframe_with_its_range_and_the_time_to_the_next() {
        let durations = [6.0, 4.0];
        let iframes = vec![
            vec![(0.0, 0, 1880), (2.5, 9400, 3760)],
            vec![(6.0, 0, 2256)],
        ];
        let text = media(&durations, &iframes, 2);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-I-FRAMES-ONLY\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXTINF:2.500000,\n#EXT-X-BYTERANGE:1880@0\nsegment1_2_av.ts\n\
             #EXTINF:3.500000,\n#EXT-X-BYTERANGE:3760@9400\nsegment1_2_av.ts\n\
             #EXTINF:4.000000,\n#EXT-X-BYTERANGE:2256@0\nsegment2_2_av.ts\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn a_segment_without_keyframes_adds_nothing_and_lengths_never_go_negative() {
        let text = media(&[3.0, 3.0], &[vec![(0.0, 0, 188)], vec![]], 0);
        assert!(text.contains("#EXTINF:6.000000,\n#EXT-X-BYTERANGE:188@0\nsegment1_0_av.ts\n"));
        assert_eq!(text.matches("#EXTINF").count(), 1);
        // Times past the end (a rounding in the plan) give 0, not a negative length.
        let text = media(&[1.0], &[vec![(1.5, 0, 188)]], 0);
        assert!(text.contains("#EXTINF:0.000000,"), "{text}");
    }

    #[test]
    fn stream_inf_lines_round_up_and_never_claim_zero() {
        let streams = [
            IFrameStream {
                uri: "iframes_0_av.m3u8".into(),
                bandwidth: 120_000.2,
                average_bandwidth: 90_000.0,
                codec: "avc1.64001F".into(),
                resolution: Some((1280, 720)),
            },
            IFrameStream {
                uri: "../b.mp4/iframes_0_av.m3u8".into(),
                bandwidth: 0.0,
                average_bandwidth: 0.0,
                codec: "hvc1.1.6.L93.B0".into(),
                resolution: None,
            },
        ];
        assert_eq!(
            stream_infs(&streams),
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=120001,AVERAGE-BANDWIDTH=90000,\
             CODECS=\"avc1.64001F\",RESOLUTION=1280x720,URI=\"iframes_0_av.m3u8\"\n\
             #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=0,\
             CODECS=\"hvc1.1.6.L93.B0\",URI=\"../b.mp4/iframes_0_av.m3u8\"\n"
        );
    }
}
