//! CEA-608 captions (issue 12): a title whose video carries GA94 cc_data in its SEI
//! (`captioned.mp4`, made by scripts/make-media.sh with scripts/cea608-sei.py) gets an
//! `EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS` CC1 rendition and `CLOSED-CAPTIONS="cc"` on its
//! variant, and the captions survive packaging (ffmpeg's decoder reads "HELLO" from the
//! first TS segment); a title without them says `CLOSED-CAPTIONS=NONE` (Apple's rule).
//! The CMAF HLS master says the same, and the MPD announces CC1 on its video set.

use crate::common::*;
use std::process::Command;

fn caption_lines(master: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .filter(|a| a["TYPE"] == "CLOSED-CAPTIONS")
        .collect()
}

#[test]
fn captions_in_the_video_are_announced_and_pass_through() {
    let stack = Stack::builder()
        .media("captioned.mp4")
        .media("clip_low.mp4")
        .start();
    let master = stack.get("/i/captioned.mp4/master.m3u8");
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let cc = caption_lines(&text);
    assert_eq!(cc.len(), 1, "{text}");
    assert_eq!(
        ["GROUP-ID", "NAME", "INSTREAM-ID", "AUTOSELECT"].map(|k| cc[0][k].as_str()),
        ["cc", "CC1", "CC1", "YES"]
    );
    let listed = variants(&text);
    assert!(
        listed.iter().all(|(a, _)| a["CLOSED-CAPTIONS"] == "cc"),
        "{text}"
    );
    // A cold master asks its plan and its captions in one job.
    let runs = |kind: &str| {
        stack.metric(&format!(
            "casterpak_tool_runs_total{{tool=\"mp42hls\",kind=\"{kind}\"}}"
        ))
    };
    assert_eq!((runs("plan"), runs("captions")), (1, 0));

    // The captions are still in the segments we made.
    let segment = stack.get("/i/captioned.mp4/segment1_0_av.ts");
    assert_eq!(segment.status, 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment1.ts");
    std::fs::write(&file, &segment.body).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("movie={}[out0+subcc]", file.display()))
        .args(["-map", "0:s", "-f", "srt", "-"])
        .output()
        .expect("run ffmpeg");
    let srt = String::from_utf8_lossy(&out.stdout);
    assert!(
        srt.contains("HELLO"),
        "ffmpeg read no caption: {srt} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No captions: every variant says so.
    let plain = stack.get("/i/clip_low.mp4/master.m3u8").text();
    assert!(caption_lines(&plain).is_empty(), "{plain}");
    assert!(
        variants(&plain)
            .iter()
            .all(|(a, _)| a["CLOSED-CAPTIONS"] == "NONE"),
        "{plain}"
    );

    // A csmil of both: the captioned variant names the group, the other says nothing
    // (NONE is only allowed on every variant at once).
    let csmil = stack
        .get("/i/,captioned,clip_low,.mp4.csmil/master.m3u8")
        .text();
    assert_eq!(caption_lines(&csmil).len(), 1, "{csmil}");
    let by_uri: Vec<(String, Option<String>)> = variants(&csmil)
        .into_iter()
        .map(|(a, uri)| (uri, a.get("CLOSED-CAPTIONS").cloned()))
        .collect();
    assert!(
        by_uri.contains(&("../captioned.mp4/index_0_av.m3u8".into(), Some("cc".into())))
            && by_uri.contains(&("../clip_low.mp4/index_0_av.m3u8".into(), None)),
        "{csmil}"
    );
    assert_ffmpeg_decodes(
        &stack,
        "/i/captioned.mp4/master.m3u8",
        "the captioned master",
    );

    // CMAF HLS: the same SEI is in the CMAF video segments, and its master says so.
    let cmaf = stack.get("/c/captioned.mp4/master.m3u8");
    assert_eq!(cmaf.status, 200, "{}", cmaf.text());
    let cmaf = cmaf.text();
    assert_eq!(caption_lines(&cmaf).len(), 1, "{cmaf}");
    assert!(
        variants(&cmaf)
            .iter()
            .all(|(a, _)| a["CLOSED-CAPTIONS"] == "cc"),
        "{cmaf}"
    );
    let plain = stack.get("/c/clip_low.mp4/master.m3u8").text();
    assert!(
        variants(&plain)
            .iter()
            .all(|(a, _)| a["CLOSED-CAPTIONS"] == "NONE"),
        "{plain}"
    );
    // DASH: the video AdaptationSet carries SCTE 214-1's Accessibility descriptor, the
    // MPD is well-formed, and a title without captions has none.
    let mpd = stack.get("/d/captioned.mp4/manifest.mpd");
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    let mpd = mpd.text();
    let doc = roxmltree::Document::parse(&mpd).expect("the MPD is XML");
    let described: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Accessibility"))
        .map(|n| {
            let set = n.parent().expect("in an AdaptationSet");
            assert!(set.has_tag_name("AdaptationSet"), "{mpd}");
            (
                set.attribute("contentType").unwrap_or_default().to_string(),
                format!(
                    "{} {}",
                    n.attribute("schemeIdUri").unwrap_or_default(),
                    n.attribute("value").unwrap_or_default()
                ),
            )
        })
        .collect();
    assert_eq!(
        described,
        [(
            "video".to_string(),
            "urn:scte:dash:cc:cea-608:2015 CC1=und".to_string()
        )],
        "{mpd}"
    );
    let plain = stack.get("/d/clip_low.mp4/manifest.mpd").text();
    assert!(
        plain.contains("<AdaptationSet") && !plain.contains("Accessibility"),
        "{plain}"
    );
}
