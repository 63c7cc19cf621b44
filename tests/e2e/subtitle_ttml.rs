//! DFXP / TTML sidecars (MSOD's second format): `title_<lang>.dfxp` or `.ttml` beside the
//! MP4 is offered and served as WebVTT on the segments' clock; one that ffmpeg wrote
//! and a hand-written 2006 DFXP with ticks and an italic style both come through; a
//! broken one is left out with a log line; `.xml` is looked for only when the request's
//! `subtitle_file_pattern` names it.

use crate::common::*;
use std::process::Command;

const DFXP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<tt xmlns="http://www.w3.org/2006/10/ttaf1" xmlns:tts="http://www.w3.org/2006/10/ttaf1#styling"
    xmlns:ttp="http://www.w3.org/2006/10/ttaf1#parameter" ttp:tickRate="10000000" xml:lang="fr">
  <head><styling><style xml:id="it" tts:fontStyle="italic"/></styling></head>
  <body><div>
    <p begin="10000000t" end="30000000t"><span style="it">Bonjour</span> &amp; bienvenue</p>
    <p begin="00:00:10.000" dur="2.5s">Au revoir</p>
  </div></body>
</tt>
"#;

fn stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // English: TTML as ffmpeg's own TTML writer makes it from SubRip.
    let srt = write(
        "en.srt",
        "1\n00:00:01,000 --> 00:00:03,500\nHello from ffmpeg\n\n2\n00:00:10,000 --> 00:00:12,500\nWorld\n",
    );
    let en = dir.path().join("en.ttml");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&srt)
        .args(["-f", "ttml"])
        .arg(&en)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg -f ttml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fr = write("fr.dfxp", DFXP);
    let es = write(
        "es.dfxp",
        "<tt><body><p begin=\"1s\">sin cerrar</body></tt>",
    );
    let it = write("it.xml", &DFXP.replace("Bonjour", "Buongiorno"));
    Stack::builder()
        .media("clip_low.mp4")
        .file_as(&en, "clip_low_en.ttml")
        .file_as(&fr, "clip_low_fr.dfxp")
        .file_as(&es, "clip_low_es.dfxp")
        .file_as(&it, "clip_low_it.xml")
        .config("subtitles", r#"languages = ["en", "fr", "es", "it"]"#)
        .start()
}

fn text_of(stack: &Stack, path: &str) -> String {
    let r = stack.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

#[test]
fn dfxp_and_ttml_sidecars_are_served_as_webvtt() {
    let stack = stack();
    let master = text_of(&stack, "/i/clip_low.mp4/master.m3u8");
    let listed: Vec<String> = subtitle_renditions(&master)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(
        listed,
        ["en", "fr"],
        "the broken es left out, .xml not looked for: {master}"
    );
    let log = stack.worker_log();
    assert!(
        log.contains("clip_low_es.dfxp\" left out: not XML"),
        "no log line for the broken DFXP:\n{log}"
    );

    // The hand-written DFXP: ticks to times, the style to <i>, the entity kept escaped,
    // on the segments' clock like every sidecar.
    let playlist = text_of(&stack, "/i/clip_low.mp4/subtitles_fr.m3u8");
    let first = segments(&playlist)[0].1.clone();
    let segment = text_of(&stack, &format!("/i/clip_low.mp4/{first}"));
    assert!(
        segment.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:"),
        "{segment}"
    );
    assert!(
        segment.contains("\n00:00:01.000 --> 00:00:03.000\n<i>Bonjour</i> &amp; bienvenue\n"),
        "{segment}"
    );
    let all: String = segments(&playlist)
        .iter()
        .map(|(_, uri)| text_of(&stack, &format!("/i/clip_low.mp4/{uri}")))
        .collect();
    assert!(
        all.contains("\n00:00:10.000 --> 00:00:12.500\nAu revoir\n"),
        "dur= resolved: {all}"
    );

    // What ffmpeg wrote, ffmpeg reads back through our playlist at the same times.
    let cues = ffmpeg_webvtt(&stack, "/i/clip_low.mp4/subtitles_en.m3u8");
    assert!(cues.contains("Hello from ffmpeg"), "ffmpeg: {cues}");
    assert!(cues.contains("World"), "ffmpeg: {cues}");
    assert_ffmpeg_decodes(
        &stack,
        "/i/clip_low.mp4/master.m3u8",
        "master with TTML subtitles",
    );

    // `.xml` only when the pattern names it, and then only that format.
    let xml = text_of(
        &stack,
        "/i/clip_low.mp4/master.m3u8?subtitle_file_pattern=identifier_langcode.xml",
    );
    let listed = subtitle_renditions(&xml);
    assert_eq!(listed.len(), 1, "{xml}");
    assert_eq!(listed[0].0, "it");
    let playlist_path = format!("/i/clip_low.mp4/{}", listed[0].1);
    let playlist = text_of(&stack, &playlist_path);
    let first = segments(&playlist)[0].1.clone();
    let segment = text_of(&stack, &format!("/i/clip_low.mp4/{first}"));
    assert!(segment.contains("<i>Buongiorno</i>"), "{segment}");
}
