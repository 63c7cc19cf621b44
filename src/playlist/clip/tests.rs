use super::*;

fn clip(start_ms: u64, end_ms: Option<u64>) -> Clip {
    Clip { start_ms, end_ms }
}

/// A 60 s title of 6 s segments with a keyframe every 2 s.
fn title() -> (Vec<f64>, Vec<Vec<f64>>) {
    let durations = vec![6.0; 10];
    let keyframes = (0..10)
        .map(|i| (0..3).map(|j| f64::from(i * 6 + j * 2)).collect())
        .collect();
    (durations, keyframes)
}

#[test]
fn segment_windows_hold_the_clip() {
    let six = [6.0; 10];
    let cases = [
        (clip(12_000, Some(40_000)), 2, 6, 0.0),
        (clip(13_500, Some(40_000)), 2, 6, 1.5),
        (clip(0, Some(6_000)), 0, 0, 0.0),
        (clip(59_999, None), 9, 9, 5.999),
        (clip(30_000, Some(500_000)), 5, 9, 0.0),
        (clip(11_999, Some(12_001)), 1, 2, 5.999),
    ];
    for (c, first, last, offset) in cases {
        let w = window(&six, &c).unwrap();
        assert_eq!((w.first, w.last), (first, last), "{c:?}");
        let got = w.offset.unwrap();
        assert!((got - offset).abs() < 1e-9, "{c:?}: {got}");
    }
    assert_eq!(
        window(&six, &clip(60_000, None)),
        Err(QueryError::StartBeyondEnd)
    );
    assert_eq!(window(&[], &clip(1, None)), Err(QueryError::StartBeyondEnd));
}

#[test]
fn keyframe_windows_cut_inside_the_end_segments() {
    let (durations, keyframes) = title();
    let cut = |at_ms, removed| Some(Cut { at_ms, removed });
    // (clip, first, last, offset, start cut, end cut)
    let cases = [
        (
            clip(12_000, Some(40_000)),
            2,
            6,
            0.0,
            None,
            cut(40_000, 2.0),
        ),
        (
            clip(13_500, Some(40_000)),
            2,
            6,
            1.5,
            None,
            cut(40_000, 2.0),
        ),
        (
            clip(15_000, Some(40_000)),
            2,
            6,
            1.0,
            cut(14_000, 2.0),
            cut(40_000, 2.0),
        ),
        (clip(12_000, Some(42_000)), 2, 6, 0.0, None, None),
        (clip(12_000, Some(41_000)), 2, 6, 0.0, None, None),
        (clip(59_999, None), 9, 9, 1.999, cut(58_000, 4.0), None),
        (
            clip(15_000, Some(17_000)),
            2,
            2,
            1.0,
            cut(14_000, 2.0),
            None,
        ),
        (
            clip(14_500, Some(15_000)),
            2,
            2,
            0.5,
            cut(14_000, 2.0),
            cut(16_000, 2.0),
        ),
        (clip(30_000, Some(500_000)), 5, 9, 0.0, None, None),
    ];
    for (c, first, last, offset, start_cut, end_cut) in cases {
        let w = window_at_keyframes(&durations, &keyframes, &c).unwrap();
        assert_eq!((w.first, w.last), (first, last), "{c:?}");
        assert!((w.offset.unwrap() - offset).abs() < 1e-9, "{c:?}: {w:?}");
        assert_eq!((w.start_cut, w.end_cut), (start_cut, end_cut), "{c:?}");
    }
    assert_eq!(
        window_at_keyframes(&durations, &keyframes, &clip(60_000, None)),
        Err(QueryError::StartBeyondEnd)
    );
    // Without keyframe times: segment boundaries.
    let coarse = window_at_keyframes(&durations, &[], &clip(15_000, Some(40_000))).unwrap();
    assert_eq!(
        coarse,
        window(&durations, &clip(15_000, Some(40_000))).unwrap()
    );
}

#[test]
fn keyframe_times_round_toward_their_keyframe() {
    // 29.97 fps, a keyframe every 60 frames: not whole milliseconds.
    let gop = 60.0 * 1001.0 / 30000.0;
    let durations = vec![3.0 * gop; 4];
    let keyframes: Vec<Vec<f64>> = (0..4)
        .map(|i| (0..3).map(|j| f64::from(i * 3 + j) * gop).collect())
        .collect();
    let w = window_at_keyframes(&durations, &keyframes, &clip(5_000, Some(9_000))).unwrap();
    // Keyframes at 4.004 and 10.01: the start rounds up, the end down, to ms.
    assert_eq!(w.start_cut.map(|c| c.at_ms), Some(4_004));
    assert_eq!(w.end_cut.map(|c| c.at_ms), Some(10_010));
}

#[test]
fn clipped_media_playlist_text() {
    let (durations, keyframes) = title();
    let w = window_at_keyframes(&durations, &keyframes, &clip(15_250, Some(25_000))).unwrap();
    assert_eq!(
        media(&durations, &w, (1, "av"), None),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:3\n\
         #EXT-X-START:TIME-OFFSET=1.250,PRECISE=YES\n\
         #EXTINF:4.000000,\nsegment3_1_av.ts?start=14\n\
         #EXTINF:6.000000,\nsegment4_1_av.ts\n\
         #EXTINF:2.000000,\nsegment5_1_av.ts?end=26\n\
         #EXT-X-ENDLIST\n"
    );
    // A separate stream's clip: the same window, its own file names.
    let audio = media(&durations, &w, (0, "a2"), None);
    assert!(
        audio.contains("\nsegment3_0_a2.ts?start=14\n#EXTINF:6.000000,\nsegment4_0_a2.ts\n"),
        "{audio}"
    );
    let text = media(&durations, &Window::whole(10), (0, "av"), Some(4000));
    assert!(text.contains("\nsegment10_0_av.ts?sd=4000ms\n"), "{text}");
    assert!(!text.contains("EXT-X-START"), "{text}");
    let both = window_at_keyframes(&durations, &keyframes, &clip(14_500, Some(15_000))).unwrap();
    let text = media(&durations, &both, (0, "av"), Some(6000));
    assert!(
        text.contains("#EXTINF:2.000000,\nsegment3_0_av.ts?start=14&end=16&sd=6000ms\n"),
        "{text}"
    );
}
