use super::*;

const MAX: usize = 4096;

fn ok(uri: &str) -> Request {
    parse(uri.as_bytes(), "/c", "/d", MAX)
        .unwrap_or_else(|| panic!("{uri}: not under a prefix"))
        .unwrap_or_else(|e| panic!("{uri}: {e:?}"))
}

#[test]
fn cmaf_and_dash_forms() {
    let cases: Vec<(&str, Resource, usize, &str)> = vec![
        (
            "/c/a/b.mp4/master.m3u8",
            Resource::Master,
            0,
            "c/a/b.mp4/master.m3u8",
        ),
        (
            "/c/b.mp4/index_0_a.m3u8?t=1",
            Resource::MediaPlaylist(Track::Audio),
            0,
            "c/b.mp4/index_0_a.m3u8",
        ),
        (
            "/c/b.mp4/init_0_v.mp4",
            Resource::Init(Track::Video),
            0,
            "c/b.mp4/init_0_v.mp4",
        ),
        (
            "/c/x/p_,lo,hi,.mp4.csmil/segment12_1_v.m4s",
            Resource::Segment(12, Track::Video),
            1,
            "c/x/p_,lo,hi,.mp4.csmil/segment12_1_v.m4s",
        ),
        (
            "/c/x/p_,lo,hi,.mp4.csmil/iframes_1_v.m3u8",
            Resource::IFramePlaylist,
            1,
            "c/x/p_,lo,hi,.mp4.csmil/iframes_1_v.m3u8",
        ),
        (
            "/d/a/b.mp4/manifest.mpd",
            Resource::Manifest,
            0,
            "d/a/b.mp4/manifest.mpd",
        ),
    ];
    for (uri, resource, index, key) in cases {
        let r = ok(uri);
        assert_eq!(r.resource, resource, "{uri}");
        assert_eq!(r.index, index, "{uri}");
        assert_eq!(r.file_key, key, "{uri}");
    }
    let dash = ok("/d/x/p_,lo,hi,.mp4.csmil/manifest.mpd");
    assert_eq!(dash.format, Format::Dash);
    assert_eq!(dash.container.key(), "d/x/p_,lo,hi,.mp4.csmil");
    assert_eq!(dash.media.key(), "c/x/p_,lo,hi,.mp4.csmil");
    assert_eq!(
        dash.entry_keys(),
        ["d/x/p_,lo,hi,.mp4.csmil", "c/x/p_lo.mp4", "c/x/p_hi.mp4"]
    );
    assert_eq!(
        ok("/c/b.mp4/segment3_0_a12.m4a").resource,
        Resource::Segment(3, Track::AudioTrack(12))
    );
    assert_eq!(
        ok("/c/b.mp4/index_0_a2.m3u8").resource,
        Resource::MediaPlaylist(Track::AudioTrack(2))
    );
    assert_eq!(
        ok("/c/b.mp4/init_0_a2.m4a").resource,
        Resource::Init(Track::AudioTrack(2))
    );
    for (track, tag) in [
        (Track::Video, "v"),
        (Track::Audio, "a"),
        (Track::AudioTrack(7), "a7"),
    ] {
        assert_eq!(track.tag(), tag);
    }
    let segment = ok("/c/x/p_,lo,hi,.mp4.csmil/segment2_1_a.m4a");
    assert_eq!(segment.resource, Resource::Segment(2, Track::Audio));
    assert_eq!(
        ok("/c/b.mp4/init_0_a.m4a").resource,
        Resource::Init(Track::Audio)
    );
    assert_eq!(
        segment.rendition().map(|r| r.key.as_str()),
        Some("c/x/p_hi.mp4")
    );
}

#[test]
fn refused_forms() {
    for uri in [
        "/c/b.mp4/segment0_0_v.m4s",
        "/c/b.mp4/segment01_0_v.m4s",
        "/c/b.mp4/segment1_0_av.ts",
        "/c/b.mp4/segment1_1_v.m4s",
        "/c/b.mp4/init_0_x.mp4",
        "/c/b.mp4/init_0_a.mp4",
        "/c/b.mp4/segment1_0_a.m4s",
        "/c/b.mp4/segment1_0_a0.m4a",
        "/c/b.mp4/segment1_0_a02.m4a",
        "/c/b.mp4/init_0_a2.mp4",
        "/c/b.mp4/index_0_a2x.m3u8",
        "/c/b.mp4/index_0_av.m3u8",
        "/c/b.mp4/iframes_0_a.m3u8",
        "/c/b.mp4/iframes_0_av.m3u8",
        "/c/b.mp4/iframes_01_v.m3u8",
        "/c/b.mp4/iframes_1_v.m3u8",
        "/d/b.mp4/iframes_0_v.m3u8",
        "/c/b.mp4/segment1_0_v.m4a",
        "/c/b.mp4/manifest.mpd",
        "/d/b.mp4/master.m3u8",
        "/d/b.mp4/segment1_0_v.m4s",
        "/c/../b.mp4/master.m3u8",
        "/c/b.txt/master.m3u8",
    ] {
        let parsed = parse(uri.as_bytes(), "/c", "/d", MAX).expect("under a prefix");
        assert!(parsed.is_err(), "{uri}: {parsed:?}");
    }
    assert!(parse(b"/i/b.mp4/master.m3u8", "/c", "/d", MAX).is_none());
    assert!(parse(b"/cc/b.mp4/master.m3u8", "/c", "/d", MAX).is_none());
}

#[test]
fn masters_and_manifests_take_b_and_refuse_clips() {
    let master = ok("/c/x/p_,lo,hi,.mp4.csmil/master.m3u8?b=300-900&hdnts=x");
    assert_eq!(
        master.file_key,
        "c/x/p_,lo,hi,.mp4.csmil/~b300-900/master.m3u8"
    );
    assert!(master.query.bitrate.is_some());
    let mpd = ok("/d/a/b.mp4/manifest.mpd?b=1000-");
    assert_eq!(mpd.file_key, "d/a/b.mp4/~b1000-/manifest.mpd");
    // Files a master lists ignore b= (it chose them already).
    let playlist = ok("/c/a/b.mp4/index_0_v.m3u8?b=1-");
    assert_eq!(playlist.file_key, "c/a/b.mp4/index_0_v.m3u8");
    assert!(playlist.query.is_plain());
    for uri in [
        "/c/a/b.mp4/master.m3u8?start=3",
        "/c/a/b.mp4/index_0_v.m3u8?end=9",
        "/c/a/b.mp4/iframes_0_v.m3u8?sd=4s",
        "/d/a/b.mp4/manifest.mpd?start=1&end=9",
    ] {
        let parsed = parse(uri.as_bytes(), "/c", "/d", MAX).expect("under a prefix");
        assert_eq!(
            parsed,
            Err(UrlError::BadQuery(QueryError::ClipNotForCmaf)),
            "{uri}"
        );
    }
    let bad = parse(b"/c/a/b.mp4/master.m3u8?b=fast", "/c", "/d", MAX).expect("under a prefix");
    assert_eq!(bad, Err(UrlError::BadQuery(QueryError::BadBitrate)));
}

#[test]
fn subtitle_files_keep_their_sidecar_overrides() {
    let playlist = ok("/c/films/a.mp4/subtitles_fr.m3u8?subtitle_identifier=x&b=1-");
    assert_eq!(
        playlist.resource,
        Resource::Subtitles {
            of: super::super::SubtitleSource::Sidecar("fr".into()),
            segment: None
        }
    );
    assert_eq!(playlist.file_key, "c/films/a.mp4/~sidx/subtitles_fr.m3u8");
    let segment = ok("/c/films/a.mp4/subtitles_t3_2.vtt?subtitle_identifier=x");
    assert_eq!(
        segment.resource,
        Resource::Subtitles {
            of: super::super::SubtitleSource::Track(3),
            segment: Some(2)
        }
    );
    assert_eq!(
        segment.file_key, "c/films/a.mp4/subtitles_t3_2.vtt",
        "a track's ignore them"
    );
    // The whole WebVTT (a stem without `_K`), with a sidecar's overrides too.
    let whole = ok("/c/films/a.mp4/subtitles_fr.vtt?subtitle_identifier=x");
    assert_eq!(
        whole.resource,
        Resource::SubtitleText(super::super::SubtitleSource::Sidecar("fr".into()))
    );
    assert_eq!(whole.file_key, "c/films/a.mp4/~sidx/subtitles_fr.vtt");
    assert_eq!(
        ok("/c/films/a.mp4/subtitles_t3.vtt").resource,
        Resource::SubtitleText(super::super::SubtitleSource::Track(3))
    );
    // Relative locations are from the title's dir, and may not leave the root.
    let located = ok("/c/films/a.mp4/subtitles_fr_1.vtt?subtitle_location=subs");
    assert_eq!(
        located.query.sidecar.location.as_deref(),
        Some("films/subs")
    );
    for uri in [
        "/c/films/a.mp4/subtitles_fr.m3u8?start=3",
        "/c/films/a.mp4/subtitles_fr_1.vtt?subtitle_location=../../..",
        "/c/films/a.mp4/subtitles_FR.m3u8",
        "/d/films/a.mp4/subtitles_fr.m3u8",
        "/c/films/a.mp4/subtitles_FR.vtt",
        "/c/films/a.mp4/subtitles_t0.vtt",
        "/c/films/a.mp4/subtitles_.vtt",
    ] {
        let parsed = parse(uri.as_bytes(), "/c", "/d", MAX).expect("under a prefix");
        assert!(parsed.is_err(), "{uri}: {parsed:?}");
    }
}
