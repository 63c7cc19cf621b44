use super::*;

fn job(text: &str) -> Result<Job, BadJob> {
    parse_job(text.as_bytes())
}

#[test]
fn good_jobs() {
    let plan = job(r#"{"id":7,"op":"plan","segment_duration":6}"#).unwrap();
    assert_eq!((plan.id, &plan.op, &plan.input), (7, &Op::Plan, &None));
    assert_eq!(plan.plan.segment_duration, 6.0);
    assert_eq!(
        plan.plan.first_segment_number, 1,
        "casterpak's numbering by default"
    );
    // Every other option is the one-shot tool's default.
    let defaults = PlanOptions::default();
    assert_eq!(
        (
            plan.plan.threshold_seconds,
            plan.plan.pcr_offset,
            plan.plan.video_pid
        ),
        (
            defaults.threshold_seconds,
            defaults.pcr_offset,
            defaults.video_pid
        )
    );
    let segment = job(
        r#"{"id":8,"op":"segment","segment_duration":4.5,"first_segment_number":0,"k":3,"output":"/tmp/x.ts","input":"a.mp4"}"#,
    )
    .unwrap();
    assert_eq!(
        segment.op,
        Op::Segment {
            k: 3,
            output: PathBuf::from("/tmp/x.ts")
        }
    );
    assert_eq!(segment.input, Some(PathBuf::from("a.mp4")));
    assert_eq!(segment.plan.first_segment_number, 0);
    assert_eq!(segment.encryption_key, None);
    let encrypted = job(
        r#"{"id":8,"op":"segment","segment_duration":6,"k":1,"output":"/tmp/x.ts","encryption_key":"000102030405060708090a0b0c0d0e0f"}"#,
    )
    .unwrap();
    let key: Vec<u8> = (0..16).collect();
    assert_eq!(encrypted.encryption_key.map(|k| k.to_vec()), Some(key));
    assert_eq!(job(r#"{"id":9,"op":"stats"}"#).unwrap().op, Op::Stats);
    let tracks =
        job(r#"{"id":9,"op":"plan","segment_duration":6,"video_track_id":0,"audio_track_id":3}"#)
            .unwrap();
    assert_eq!(
        (tracks.plan.video_track_id, tracks.plan.audio_track_id),
        (Some(0), Some(3))
    );
    assert!(!tracks.plan.align_to_video);
    let aligned = job(
        r#"{"id":9,"op":"segment","segment_duration":6,"k":2,"output":"/tmp/a.ts","video_track_id":0,"audio_track_id":3,"align_to_video":true}"#,
    )
    .unwrap();
    assert!(aligned.plan.align_to_video);
    assert!(job(r#"{"id":9,"op":"stats","align_to_video":true}"#).is_err());
    let webvtt = job(r#"{"id":9,"op":"webvtt","track_id":3,"input":"a.mp4"}"#).unwrap();
    assert_eq!(webvtt.op, Op::WebVtt { track_id: 3 });
}

#[test]
fn bad_track_fields() {
    for (text, needle) in [
        (r#"{"id":1,"op":"webvtt"}"#, "needs track_id"),
        (
            r#"{"id":1,"op":"webvtt","track_id":3,"segment_duration":6}"#,
            "takes no",
        ),
        (
            r#"{"id":1,"op":"webvtt","track_id":3,"k":1}"#,
            "input and track_id only",
        ),
        (
            r#"{"id":1,"op":"plan","segment_duration":6,"track_id":3}"#,
            "only a webvtt job",
        ),
        (r#"{"id":1,"op":"stats","audio_track_id":3}"#, "track ids"),
        (
            r#"{"id":1,"op":"plan","segment_duration":6,"audio_track_id":-1}"#,
            "bad job",
        ),
    ] {
        let error = job(text).expect_err(text);
        assert!(error.reason.contains(needle), "{text}: {}", error.reason);
    }
}

#[test]
fn bad_jobs_keep_their_id_when_it_can_be_read() {
    // (job, id answered, words of the reason)
    let cases: [(&str, Option<u64>, &str); 16] = [
        ("not json", None, "not JSON"),
        ("[1,2]", None, "JSON object"),
        (r#"{"op":"plan","segment_duration":6}"#, None, "id"),
        (
            r#"{"id":-1,"op":"plan","segment_duration":6}"#,
            None,
            "bad job",
        ),
        (
            r#"{"id":1,"op":"mux","segment_duration":6}"#,
            Some(1),
            "unknown op",
        ),
        (
            r#"{"id":2,"op":"plan"}"#,
            Some(2),
            "segment_duration is missing",
        ),
        (
            r#"{"id":3,"op":"plan","segment_duration":0}"#,
            Some(3),
            "above 0",
        ),
        (
            r#"{"id":4,"op":"plan","segment_duration":1e9}"#,
            Some(4),
            "above 0",
        ),
        (
            r#"{"id":5,"op":"segment","segment_duration":6,"output":"/x"}"#,
            Some(5),
            "needs k",
        ),
        (
            r#"{"id":6,"op":"segment","segment_duration":6,"k":1}"#,
            Some(6),
            "needs output",
        ),
        (
            r#"{"id":7,"op":"segment","segment_duration":6,"k":1,"output":"x.ts"}"#,
            Some(7),
            "absolute",
        ),
        // An unknown field is refused, not ignored.
        (
            r#"{"id":8,"op":"plan","segment_duration":6,"encryption_mode":"AES-128"}"#,
            Some(8),
            "unknown field",
        ),
        (
            r#"{"id":8,"op":"plan","segment_duration":6,"encryption_key":"00"}"#,
            Some(8),
            "32 hex digits",
        ),
        (
            r#"{"id":8,"op":"plan","segment_duration":6,"cmaf":"video","encryption_key":"00112233445566778899aabbccddeeff"}"#,
            Some(8),
            "TS plan and segment",
        ),
        (
            r#"{"id":9,"op":"plan","segment_duration":6,"first_segment_number":4503599627370496}"#,
            Some(9),
            "too large",
        ),
        (
            r#"{"id":10,"op":"stats","input":"a.mp4"}"#,
            Some(10),
            "stats takes no",
        ),
    ];
    for (text, id, needle) in cases {
        let error = job(text).expect_err(text);
        assert_eq!(error.id, id, "{text}");
        assert!(error.reason.contains(needle), "{text}: {}", error.reason);
    }
}

#[test]
fn answers_are_one_line_each() {
    let mut fields = Map::new();
    fields.insert("bytes".into(), Value::from(188));
    let ok: Value = serde_json::from_str(success(3, fields).trim_end()).unwrap();
    assert_eq!(ok, serde_json::json!({"id": 3, "ok": true, "bytes": 188}));
    let plan = r#"{"segments":[{"number":1}],"target_duration":6}"#;
    let answer: Value = serde_json::from_str(&success_with_object(4, plan)).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"id": 4, "ok": true, "segments": [{"number": 1}], "target_duration": 6})
    );
    assert_eq!(success_with_object(5, "{}"), "{\"id\":5,\"ok\":true}\n");
    let text = failure(None, 2, "corrupt input: a\nb");
    assert_eq!(text.matches('\n').count(), 1);
    assert!(text.ends_with('\n'));
    let failed: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(
        failed,
        serde_json::json!({"id": null, "ok": false, "code": 2, "reason": "corrupt input: a b"})
    );
}

#[test]
fn segment_jobs_may_trim_their_segment() {
    let trimmed = job(
        r#"{"id":1,"op":"segment","segment_duration":6,"k":3,"output":"/t.ts","trim_start":14.5,"trim_end":17}"#,
    )
    .unwrap();
    assert_eq!(
        trimmed.plan.trim,
        Some(Trim {
            number: 3,
            start: Some(14.5),
            end: Some(17.0)
        })
    );
    let untrimmed = job(r#"{"id":2,"op":"segment","segment_duration":6,"k":3,"output":"/t.ts"}"#);
    assert_eq!(untrimmed.unwrap().plan.trim, None);
    for text in [
        r#"{"id":3,"op":"plan","segment_duration":6,"trim_start":1}"#,
        r#"{"id":4,"op":"segment","segment_duration":6,"k":3,"output":"/t.ts","trim_end":-1}"#,
    ] {
        let error = job(text).expect_err(text);
        assert!(error.reason.contains("trim"), "{text}: {}", error.reason);
    }
}
