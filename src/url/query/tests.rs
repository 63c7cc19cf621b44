use super::*;

fn q(text: &str) -> Result<Query, QueryError> {
    parse(text.as_bytes())
}

fn clip(start_ms: u64, end_ms: Option<u64>) -> Option<Clip> {
    Some(Clip { start_ms, end_ms })
}

#[test]
fn clips_of_msod_md() {
    let cases: &[(&str, Option<Clip>, Option<&str>)] = &[
        (
            "start=30&end=500",
            clip(30_000, Some(500_000)),
            Some("~start30~end500"),
        ),
        (
            "start=12&end=40",
            clip(12_000, Some(40_000)),
            Some("~start12~end40"),
        ),
        ("start=12.5", clip(12_500, None), Some("~start12.5")),
        ("end=40", clip(0, Some(40_000)), Some("~end40")),
        ("start=0&end=40", clip(0, Some(40_000)), Some("~end40")),
        ("start=0", None, None),
        ("start=0.0", None, None),
        // Other spellings of the same clip name the same files.
        (
            "start=012.50&end=40.000",
            clip(12_500, Some(40_000)),
            Some("~start12.5~end40"),
        ),
        (
            "START=12&End=40",
            clip(12_000, Some(40_000)),
            Some("~start12~end40"),
        ),
        ("start=1.2344", clip(1_234, None), Some("~start1.234")),
        ("start=1.2345", clip(1_235, None), Some("~start1.235")),
        ("start=0.001", clip(1, None), Some("~start0.001")),
        // First occurrence wins, empty is absent, other keys are ignored (as nginx does).
        ("start=12&start=20", clip(12_000, None), Some("~start12")),
        ("start=&end=40", clip(0, Some(40_000)), Some("~end40")),
        (
            "hdnts=st=1~exp=2~acl=*~hmac=ab&start=12",
            clip(12_000, None),
            Some("~start12"),
        ),
        ("x=1&y&starting=3", None, None),
        ("", None, None),
    ];
    for (text, expected, tag) in cases {
        let query = q(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(query.clip, *expected, "{text}");
        assert_eq!(query.tag().as_deref(), *tag, "{text}");
    }
}

#[test]
fn bad_clips_are_refused_with_a_reason() {
    let cases: &[(&str, QueryError)] = &[
        ("start=-5", QueryError::Negative("start")),
        ("end=-0.5", QueryError::Negative("end")),
        ("start=abc", QueryError::NotANumber("start")),
        ("start=12s", QueryError::NotANumber("start")),
        ("start=1e3", QueryError::NotANumber("start")),
        ("start=12.", QueryError::NotANumber("start")),
        ("start=.5", QueryError::NotANumber("start")),
        ("start=1.2.3", QueryError::NotANumber("start")),
        ("start=%31%32", QueryError::NotANumber("start")),
        ("start=+12", QueryError::NotANumber("start")),
        ("start=--1", QueryError::NotANumber("start")),
        ("start=inf", QueryError::NotANumber("start")),
        ("start=NaN", QueryError::NotANumber("start")),
        ("start=1234567890", QueryError::TooLarge("start")),
        ("start=40&end=12", QueryError::StartNotBeforeEnd),
        ("start=12&end=12", QueryError::StartNotBeforeEnd),
        ("start=12.0001&end=12", QueryError::StartNotBeforeEnd),
        ("end=0", QueryError::StartNotBeforeEnd),
    ];
    for (text, expected) in cases {
        assert_eq!(q(text), Err(*expected), "{text}");
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn bitrate_filters_of_msod_md() {
    let r = |low, high| KbpsRange { low, high };
    let cases: &[(&str, Vec<KbpsRange>, &str)] = &[
        ("b=300-", vec![r(300, None)], "~b300-"),
        ("b=0-700", vec![r(0, Some(700))], "~b0-700"),
        (
            "b=0-300,1200-",
            vec![r(0, Some(300)), r(1200, None)],
            "~b0-300,1200-",
        ),
        ("B=500-500", vec![r(500, Some(500))], "~b500-500"),
    ];
    for (text, expected, tag) in cases {
        let query = q(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(query.bitrate.as_ref(), Some(expected), "{text}");
        assert_eq!(query.tag().as_deref(), Some(*tag), "{text}");
    }
    // b=300- keeps 300 kbit/s and above; b=0-700 up to 700 kbit/s inclusive.
    assert!(r(300, None).holds(300_000) && !r(300, None).holds(299_999));
    assert!(r(0, Some(700)).holds(700_000) && !r(0, Some(700)).holds(700_001));
    let garbage = [
        "b=abc",
        "b=300",
        "b=-300",
        "b=300-200",
        "b=1,2",
        "b=300-,",
        "b=,300-",
        "b=0300-",
        "b=300--",
        "b=3 00-",
        "b=300-x",
        "b=1-2-3",
        "b=99999999999-",
        "b=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-",
    ];
    for text in garbage {
        assert_eq!(q(text), Err(QueryError::BadBitrate), "{text}");
    }
}

#[test]
fn segment_durations_of_msod_md() {
    let cases = [
        ("sd=6s", 6000),
        ("sd=6006ms", 6006),
        ("SD=10s", 10_000),
        ("sd=2000ms", 2000),
    ];
    for (text, ms) in cases {
        let query = q(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(query.segment_ms, Some(ms), "{text}");
        assert_eq!(query.tag(), Some(format!("~sd{ms}")), "{text}");
        assert_eq!(check_segment_range(&query, 2000, 60_000), Ok(()), "{text}");
    }
    for text in [
        "sd=6",
        "sd=6.5s",
        "sd=s",
        "sd=ms",
        "sd=-6s",
        "sd=6S",
        "sd=6 s",
        "sd=1234567s",
    ] {
        assert_eq!(q(text), Err(QueryError::BadSegmentDuration), "{text}");
    }
    for text in ["sd=1s", "sd=1999ms", "sd=61s", "sd=0ms"] {
        let query = q(text).unwrap();
        assert_eq!(
            check_segment_range(&query, 2000, 60_000),
            Err(QueryError::SegmentDurationOutOfRange(2000, 60_000)),
            "{text}"
        );
    }
}

#[test]
fn tags_scopes_and_variant_queries() {
    let query = q("sd=6s&b=300-&end=40&start=12&hdnts=x").unwrap();
    assert_eq!(query.tag().as_deref(), Some("~start12~end40~b300-~sd6000"));
    assert_eq!(query.variant_query(), "start=12&end=40&sd=6000ms");
    let playlist = query.scoped(Scope::MediaPlaylist);
    assert_eq!(playlist.tag().as_deref(), Some("~start12~end40~sd6000"));
    let segment = query.scoped(Scope::Segment);
    assert_eq!(segment.tag().as_deref(), Some("~start12~end40~sd6000"));
    let trimmed = q("end=26&b=300-").unwrap();
    assert_eq!(
        trimmed.scoped(Scope::Segment).tag().as_deref(),
        Some("~end26")
    );
    assert_eq!(seconds_text(0), "0");
    assert_eq!(seconds_text(40), "0.04");
    assert_eq!(seconds_text(12_340), "12.34");
}
