//! Live ingest, viewing and recording end to end: real ffmpeg publishes HLS through
//! the generated nginx config (dav PUT/DELETE, POST through the relay), real ffmpeg
//! reads the live playlist and the recordings, the worker marks ended streams, records
//! and sweeps.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// With `.` and `+`, which the nginx side must match literally.
const TOKEN: &str = "test.ingest+token/0123456789=~_-";

/// A stack with `[live]` on; the POST relay's socket in `socket_dir`.
fn live_stack(socket_dir: &Path, extra: &[&str]) -> Stack {
    live_builder(socket_dir, extra).start()
}

/// [`live_stack`] before it starts, for more config.
pub(crate) fn live_builder(socket_dir: &Path, extra: &[&str]) -> StackBuilder {
    let mut b = Stack::builder()
        .config("live", "enabled = true")
        .config("live", &format!("ingest_token = \"{TOKEN}\""))
        .config(
            "live",
            &format!(
                "post_socket = {:?}",
                socket_dir.join("post.sock").display().to_string()
            ),
        )
        .config(
            "live",
            &format!(
                "ingest_log = {:?}",
                socket_dir.join("ingest.log").display().to_string()
            ),
        );
    for line in extra {
        b = b.config("live", line);
    }
    b
}

/// One HTTP/1.0 request with a body; the answer's status.
pub(crate) fn send(port: u16, method: &str, path: &[u8], headers: &[&str], body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = Vec::new();
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(path);
    head.extend_from_slice(b" HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        head.extend_from_slice(h.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    stream.write_all(&head).expect("send head");
    // nginx may answer (413, 401) and close before reading a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{method} {}: bad answer {text:?}",
                String::from_utf8_lossy(path)
            )
        })
}

pub(crate) fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

/// Every file under `dir` (none when it does not exist), as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(items) = std::fs::read_dir(dir) else {
            return;
        };
        for item in items.flatten() {
            let path = item.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What publishers wrote (the live dir without its own mark).
fn published(stack: &Stack) -> Vec<PathBuf> {
    files_under(&stack.cache_root.join("live"))
        .into_iter()
        .filter(|p| p != Path::new(".casterpak-not-cache"))
        .collect()
}

#[test]
fn ingest_is_gated_and_names_are_checked() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = live_stack(sockets.path(), &["max_body_bytes = 65536"]);
    let port = stack.port;
    let body = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nindex0.ts\n";
    let auth = bearer();

    // No credential, a wrong one: 401, nothing written.
    assert_eq!(send(port, "PUT", b"/live/s1/index.m3u8", &[], body), 401);
    let wrong = "Authorization: Bearer not-the-token-0123456789";
    assert_eq!(
        send(port, "PUT", b"/live/s1/index.m3u8", &[wrong], body),
        401
    );
    // The token's `.` is a literal dot, not any character.
    let dotless = format!("Authorization: Bearer {}", TOKEN.replace('.', "X"));
    assert_eq!(
        send(port, "PUT", b"/live/s1/index.m3u8", &[&dotless], body),
        401
    );
    assert_eq!(send(port, "POST", b"/live/s1/index.m3u8", &[], body), 401);
    assert_eq!(send(port, "DELETE", b"/live/s1/index.m3u8", &[], b""), 401);
    assert_eq!(published(&stack), Vec::<PathBuf>::new());

    // Outside /live nothing is writable, with the token or not.
    assert_eq!(
        send(port, "PUT", b"/i/x.mp4/master.m3u8", &[&auth], body),
        405
    );
    assert_eq!(send(port, "PUT", b"/elsewhere.m3u8", &[&auth], body), 405);

    // Over the body limit: 413.
    let big = vec![0x47u8; 70_000];
    assert_eq!(
        send(port, "PUT", b"/live/s1/index0.ts", &[&auth], &big),
        413
    );

    // Hostile names: refused (nginx normalises `..` away first, so those land on
    // another location or fail the name check), nothing written anywhere.
    for path in [
        &b"/live/../i/x.ts"[..],
        b"/live/s1/../../x.ts",
        b"/live/s1/%2e%2e/x.ts",
        b"/live/s1%2fx/y.ts",
        b"/live/s1/a/b.ts",
        b"/live/s.1/x.ts",
        b"/live/s1/.hidden",
        b"/live/s1/a%00.ts",
        b"/live/s1/",
    ] {
        let status = send(port, "PUT", path, &[&auth], body);
        assert!(
            [400, 404, 405].contains(&status),
            "{}: {status}",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(published(&stack), Vec::<PathBuf>::new());
    assert!(files_under(&stack.cache_root.join("i"))
        .iter()
        .all(|p| p.ends_with(".casterpak-not-cache")));

    // With the token: PUT writes, GET serves with live headers, POST (relayed as PUT)
    // replaces, DELETE removes; other methods are 405.
    assert_eq!(
        send(port, "PUT", b"/live/s1/index.m3u8", &[&auth], body),
        201
    );
    let r = stack.get("/live/s1/index.m3u8");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    assert_eq!(r.header("cache-control"), "public, max-age=1");
    let posted = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nindex1.ts\n";
    let status = send(port, "POST", b"/live/s1/index.m3u8", &[&auth], posted);
    assert!(
        [201, 204].contains(&status),
        "POST: {status}\n{}",
        stack.nginx_error_log()
    );
    let on_disk = std::fs::read(stack.cache_root.join("live/s1/index.m3u8")).expect("on disk");
    assert_eq!(
        String::from_utf8_lossy(&on_disk),
        String::from_utf8_lossy(posted),
        "POST {status}"
    );
    assert_eq!(
        stack.get("/live/s1/index.m3u8").text(),
        String::from_utf8_lossy(posted)
    );
    let segment = vec![0x47u8; 188 * 10];
    assert_eq!(
        send(port, "POST", b"/live/s1/index1.ts", &[&auth], &segment),
        201
    );
    let r = stack.get("/live/s1/index1.ts");
    assert_eq!((r.status, r.body.len()), (200, segment.len()));
    assert_eq!(r.header("content-type"), "video/mp2t");
    assert_eq!(r.header("cache-control"), "public, max-age=600");
    assert_eq!(
        send(port, "DELETE", b"/live/s1/index1.ts", &[&auth], b""),
        204
    );
    assert_eq!(stack.get("/live/s1/index1.ts").status, 404);
    assert_eq!(
        send(port, "OPTIONS", b"/live/s1/index.m3u8", &[&auth], b""),
        405
    );
    // The relay socket takes no request without the token either.
    assert_eq!(
        published(&stack),
        vec![PathBuf::from("s1/index.m3u8")],
        "only what was published with the token"
    );
}

#[test]
fn an_address_outside_the_allow_list_is_forbidden() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = live_stack(sockets.path(), &["allow = [\"10.0.0.0/8\"]"]);
    let auth = bearer();
    assert_eq!(
        send(
            stack.port,
            "PUT",
            b"/live/s1/index.m3u8",
            &[&auth],
            b"#EXTM3U\n"
        ),
        403
    );
    assert_eq!(
        send(
            stack.port,
            "POST",
            b"/live/s1/index.m3u8",
            &[&auth],
            b"#EXTM3U\n"
        ),
        403
    );
    assert_eq!(
        send(stack.port, "PUT", b"/live/s1/index.m3u8", &[], b"#EXTM3U\n"),
        401
    );
    assert_eq!(published(&stack), Vec::<PathBuf>::new());
}

/// ffmpeg publishing a test source for `secs` to `/live/<stream>/index.m3u8`.
pub(crate) fn publish(
    stack: &Stack,
    stream: &str,
    method: &str,
    size: &str,
    secs: u32,
    delete: bool,
) -> Child {
    let mut args: Vec<String> = [
        "-nostdin",
        "-v",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={size}:rate=25"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_list_size",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if delete {
        args.extend(["-hls_flags".into(), "delete_segments".into()]);
    }
    args.extend([
        "-method".into(),
        method.into(),
        "-headers".into(),
        format!("{}\r\n", bearer()),
        stack.url(&format!("/live/{stream}/index.m3u8")),
    ]);
    Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

/// ffmpeg publishing `/live/<stream>/master.m3u8` over two renditions (320x240 and
/// 160x120, each with its audio) for `secs`.
pub(crate) fn publish_two_renditions(stack: &Stack, stream: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine", "-t", &secs.to_string()])
        .args(["-filter_complex", "[0:v]split=2[a][b];[b]scale=160:120[b2]"])
        .args(["-map", "[a]", "-map", "[b2]", "-map", "1:a", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
        ])
        .args(["-f", "hls", "-hls_time", "2", "-hls_list_size", "4"])
        .args(["-hls_flags", "delete_segments"])
        .args([
            "-var_stream_map",
            "v:0,a:0 v:1,a:1",
            "-master_pl_name",
            "master.m3u8",
        ])
        .args(["-method", "PUT", "-headers", &format!("{}\r\n", bearer())])
        .arg(stack.url(&format!("/live/{stream}/index_%v.m3u8")))
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg")
}

/// The stream's live master, once it and every media playlist it lists are there.
pub(crate) fn live_master(stack: &Stack, stream: &str) -> String {
    wait_for(
        Duration::from_secs(30),
        &format!("{stream}'s master and media playlists"),
        || {
            let r = stack.get(&format!("/live/{stream}/master.m3u8"));
            let ready = r.status == 200
                && variants(&r.text())
                    .iter()
                    .all(|(_, uri)| stack.get(&format!("/live/{stream}/{uri}")).status == 200);
            ready.then(|| r.text())
        },
    )
}

/// Polls `what` every 200 ms until it gives Some, for at most `limit` (a bound on a
/// wait, not a measurement).
pub(crate) fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn media_sequence(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
}

pub(crate) fn live_playlist(stack: &Stack, stream: &str) -> Option<String> {
    let r = stack.get(&format!("/live/{stream}/index.m3u8"));
    (r.status == 200).then(|| r.text())
}

pub(crate) fn ffmpeg_reads(stack: &Stack, path: &str, extra: &[&str]) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(stack.url(path))
        .args(extra)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{path}: ffmpeg failed: {stderr}");
    stderr
}

pub(crate) fn record(stack: &Stack, args: &[&str]) -> String {
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    let out = stack.casterpak(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "record {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub(crate) fn started_id(answer: &str) -> String {
    answer
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no id in {answer:?}"))
        .to_string()
}

pub(crate) fn vod_duration(stack: &Stack, id: &str) -> (f64, String) {
    let master = stack.get(&format!("/i/recordings/{id}/master.m3u8"));
    assert_eq!(master.status, 200, "{id} master: {}", master.text());
    assert_eq!(
        master.header("content-type"),
        "application/vnd.apple.mpegurl"
    );
    let variants = variants(&master.text());
    assert_eq!(variants.len(), 1, "{}", master.text());
    assert_eq!(variants[0].1, "index_0_av.m3u8");
    let media = stack.get(&format!("/i/recordings/{id}/index_0_av.m3u8"));
    assert_eq!(media.status, 200);
    let text = media.text();
    for tag in ["#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST"] {
        assert!(text.lines().any(|l| l == tag), "{id} lacks {tag}:\n{text}");
    }
    (segments(&text).iter().map(|(d, _)| d).sum(), text)
}

#[test]
fn publish_view_record_end_and_sweep() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = live_stack(
        sockets.path(),
        &[
            "ended_after_secs = 4",
            "live_ttl_secs = 1",
            "ended_ttl_secs = 1",
        ],
    );
    // s1: PUT with delete_segments, as the brief's publisher; s2: POST (LiveMix's
    // sources), a different picture size, old segments left for the sweep.
    let mut s1 = publish(&stack, "s1", "PUT", "320x240", 24, true);
    let mut s2 = publish(&stack, "s2", "POST", "160x120", 24, false);

    // Live: valid, advancing, no ENDLIST, short cache headers; ffmpeg reads it.
    let first = wait_for(Duration::from_secs(30), "s1's first playlist", || {
        live_playlist(&stack, "s1").and_then(|t| media_sequence(&t).map(|s| (s, t)))
    });
    let r = stack.get("/live/s1/index.m3u8");
    assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
    assert_eq!(r.header("cache-control"), "public, max-age=1");
    assert!(!first.1.contains("#EXT-X-ENDLIST"), "{}", first.1);
    ffmpeg_reads(&stack, "/live/s1/index.m3u8", &["-t", "3"]);
    let advanced = wait_for(Duration::from_secs(30), "s1's window to slide", || {
        let text = live_playlist(&stack, "s1")?;
        (media_sequence(&text)? >= 1).then_some(text)
    });
    assert!(!advanced.contains("#EXT-X-ENDLIST"));
    assert_eq!(segments(&advanced).len(), 4, "{advanced}");
    for (_, uri) in segments(&advanced) {
        let r = stack.get(&format!("/live/s1/{uri}"));
        assert_eq!(r.status, 200, "{uri}");
        assert_eq!(r.header("content-type"), "video/mp2t");
        // ffmpeg's muxer starts with its SDT, not the PAT: packets and sync only.
        assert!(
            !r.body.is_empty() && r.body.len().is_multiple_of(188),
            "{uri}: {} bytes",
            r.body.len()
        );
        assert!(r.body.chunks(188).all(|p| p[0] == 0x47), "{uri}: lost sync");
    }

    // Recordings: one from now, one from 8 s ago (over HTTP, localhost only).
    let r1 = started_id(&record(&stack, &["start", "s1"]));
    let answer = stack.get("/_casterpak/record?start=s1&from=-8s");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let r2 = started_id(&answer.text());
    let started_at = media_sequence(&live_playlist(&stack, "s1").unwrap()).unwrap();
    wait_for(Duration::from_secs(30), "s1 to move on 4 segments", || {
        (media_sequence(&live_playlist(&stack, "s1")?)? >= started_at + 4).then_some(())
    });

    // The sweep mid-stream removes s2's segments that left its window, none listed.
    let s2_before = published(&stack)
        .iter()
        .filter(|p| p.starts_with("s2"))
        .count();
    let out = stack.casterpak(&["--sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s2_text = live_playlist(&stack, "s2").expect("s2 playlist");
    let s2_after: Vec<PathBuf> = published(&stack)
        .into_iter()
        .filter(|p| p.starts_with("s2"))
        .collect();
    assert!(s2_after.len() < s2_before, "{s2_before} -> {s2_after:?}");
    for (_, uri) in segments(&s2_text) {
        assert!(
            stack.cache_root.join("live/s2").join(&uri).is_file(),
            "{uri} listed but swept"
        );
    }

    let stop1 = record(&stack, &["stop", &r1]);
    let stop2 = stack.get(&format!("/_casterpak/record?stop={r2}"));
    assert_eq!(stop2.status, 200, "{}", stop2.text());
    let (d1, text1) = vod_duration(&stack, &r1);
    let (d2, _) = vod_duration(&stack, &r2);
    eprintln!("recording {r1}: {d1:.2} s ({stop1:?}); {r2} from -8 s: {d2:.2} s");
    assert!(d1 >= 6.0, "{r1}: {d1} s\n{text1}");
    assert!(d2 >= d1 + 5.0, "from 8 s earlier: {d2} s against {d1} s");
    assert!(!text1.contains("#EXT-X-DISCONTINUITY"), "{text1}");
    let errors = ffmpeg_reads(&stack, &format!("/i/recordings/{r1}/master.m3u8"), &[]);
    assert!(errors.trim().is_empty(), "{r1}: {errors}");
    let errors = ffmpeg_reads(&stack, &format!("/i/recordings/{r2}/master.m3u8"), &[]);
    assert!(errors.trim().is_empty(), "{r2}: {errors}");
    let list = record(&stack, &["list"]);
    for id in [&r1, &r2] {
        assert!(
            list.lines().any(|l| l.starts_with(id.as_str())
                && l.contains("stopped")
                && l.contains("duration=")),
            "{list}"
        );
    }

    // s2 dies without its final playlist: the worker marks it ended. s1 ends itself.
    s2.kill().expect("kill s2");
    let _ = s2.wait();
    let s1_status = s1.wait().expect("s1 exits");
    let mut s1_err = String::new();
    if let Some(mut e) = s1.stderr.take() {
        let _ = e.read_to_string(&mut s1_err);
    }
    assert!(s1_status.success(), "publisher s1: {s1_err}");
    // ffmpeg's delete_segments DELETEs (with an empty chunked body, which dav alone
    // refuses with 415) reached dav through the relay: 204, or 404 for the segments the
    // mid-stream sweep removed first.
    let access =
        std::fs::read_to_string(stack.nginx_prefix.join("logs/access.log")).expect("access log");
    let deletes: Vec<&str> = access
        .lines()
        .filter(|l| l.contains("\"DELETE /live/s1/"))
        .collect();
    assert!(
        deletes.iter().any(|l| l.contains("\" 204 ")),
        "no DELETE done: {deletes:#?}"
    );
    assert!(
        deletes
            .iter()
            .all(|l| l.contains("\" 204 ") || l.contains("\" 404 ")),
        "{deletes:#?}"
    );
    for stream in ["s1", "s2"] {
        wait_for(
            Duration::from_secs(30),
            &format!("{stream} to be ended"),
            || {
                live_playlist(&stack, stream)?
                    .contains("#EXT-X-ENDLIST")
                    .then_some(())
            },
        );
    }

    // The streams did not mix: each playlist names its own files, each picture its size.
    let s1_text = live_playlist(&stack, "s1").unwrap();
    let s2_text = live_playlist(&stack, "s2").unwrap();
    let (_, s1_last) = segments(&s1_text).pop().expect("s1 segments");
    let (_, s2_last) = segments(&s2_text).pop().expect("s2 segments");
    assert_eq!(
        ffprobe_resolution(stack.cache_root.join("live/s1").join(&s1_last)),
        "320x240"
    );
    assert_eq!(
        ffprobe_resolution(stack.cache_root.join("live/s2").join(&s2_last)),
        "160x120"
    );
    let metrics = stack.get("/_casterpak/metrics").text();
    assert!(
        metrics.contains("casterpak_live_segments{stream=\"s1\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("casterpak_recordings 2")),
        "{metrics}"
    );
    // Every file on disk came in through an accepted write, whose request (headers
    // and body) nginx's ingest feed counted: the total is at least their size.
    let on_disk: u64 = published(&stack)
        .iter()
        .filter_map(|p| std::fs::metadata(stack.cache_root.join("live").join(p)).ok())
        .map(|m| m.len())
        .sum();
    let sample = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let metrics = wait_for(
        Duration::from_secs(10),
        "the ingest feed to be read",
        || {
            let text = stack.get("/_casterpak/metrics").text();
            (sample(&text, "casterpak_live_ingest_bytes_total") >= on_disk).then_some(text)
        },
    );
    eprintln!(
        "ingest: {} requests, {} bytes; {on_disk} bytes on disk",
        sample(&metrics, "casterpak_live_ingest_requests_total"),
        sample(&metrics, "casterpak_live_ingest_bytes_total")
    );
    assert!(
        sample(&metrics, "casterpak_live_ingest_requests_total") > 0,
        "{metrics}"
    );

    // After the ended TTL the sweep removes the streams; the recordings stay whole.
    std::thread::sleep(Duration::from_millis(1100));
    let out = stack.casterpak(&["--sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        published(&stack),
        Vec::<PathBuf>::new(),
        "live files left after the sweep"
    );
    assert_eq!(stack.get("/live/s1/index.m3u8").status, 404);
    let (d1_after, _) = vod_duration(&stack, &r1);
    assert_eq!(d1_after, d1);
    ffmpeg_reads(&stack, &format!("/i/recordings/{r1}/master.m3u8"), &[]);
    ffmpeg_reads(&stack, &format!("/i/recordings/{r2}/index_0_av.m3u8"), &[]);

    // Deleting is the only way a recording goes.
    record(&stack, &["delete", &r1]);
    assert!(!stack.cache_root.join("i/recordings").join(&r1).exists());
    // nginx's open-file cache of /i (open_file_cache_valid 2s) notices the removal.
    wait_for(
        Duration::from_secs(10),
        "the deleted recording to be a 404",
        || (stack.get(&format!("/i/recordings/{r1}/master.m3u8")).status == 404).then_some(()),
    );
    assert!(record(&stack, &["list"]).contains(&r2));
}

#[test]
fn a_publisher_restart_is_a_discontinuity_in_the_recording() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = live_stack(sockets.path(), &[]);
    let mut first = publish(&stack, "s3", "PUT", "320x240", 8, true);
    wait_for(Duration::from_secs(30), "s3's first playlist", || {
        live_playlist(&stack, "s3").filter(|t| !segments(t).is_empty())
    });
    let id = started_id(&record(&stack, &["start", "s3", "--from", "-4s"]));
    assert!(first.wait().expect("first publisher").success());
    // The same stream again: ffmpeg numbers from 0 and reuses the segment names.
    let mut second = publish(&stack, "s3", "PUT", "320x240", 8, true);
    assert!(second.wait().expect("second publisher").success());
    let answer = record(&stack, &["stop", &id]);
    let (total, text) = vod_duration(&stack, &id);
    eprintln!("{answer}{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY").count(), 1, "{text}");
    assert!(total >= 10.0, "{total} s:\n{text}");
    // ffmpeg's HLS reader does not reset timestamps at a discontinuity (its null muxer
    // then refuses the restarted DTS), so each segment is decoded on its own.
    for (_, uri) in segments(&text) {
        let errors = ffmpeg_reads(&stack, &format!("/i/recordings/{id}/{uri}"), &[]);
        assert!(errors.trim().is_empty(), "{id}/{uri}: {errors}");
    }
}

#[test]
fn a_master_over_two_renditions_is_viewed_recorded_and_swept() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = live_stack(sockets.path(), &["ended_ttl_secs = 1"]);
    let mut publisher = publish_two_renditions(&stack, "s4", 12);
    let master = live_master(&stack, "s4");
    let uris: Vec<String> = variants(&master).into_iter().map(|(_, u)| u).collect();
    assert_eq!(uris, ["index_0.m3u8", "index_1.m3u8"], "{master}");
    ffmpeg_reads(&stack, "/live/s4/master.m3u8", &["-t", "2"]);
    let id = started_id(&record(&stack, &["start", "s4", "--from", "-4s"]));
    assert!(publisher.wait().expect("publisher").success());
    record(&stack, &["stop", &id]);
    // Both renditions recorded: a variant each, with what the live master said of it.
    let recorded = stack.get(&format!("/i/recordings/{id}/master.m3u8")).text();
    let listed = variants(&recorded);
    let resolutions: Vec<&str> = listed
        .iter()
        .map(|(a, _)| a["RESOLUTION"].as_str())
        .collect();
    assert_eq!(resolutions, ["320x240", "160x120"], "{recorded}");
    let names: Vec<&str> = listed.iter().map(|(_, uri)| uri.as_str()).collect();
    assert_eq!(names, ["index_0_av.m3u8", "index_1_av.m3u8"], "{recorded}");
    let mut durations = Vec::new();
    for (attributes, uri) in &listed {
        assert!(attributes["CODECS"].contains("avc1."), "{recorded}");
        let media = stack.get(&format!("/i/recordings/{id}/{uri}")).text();
        let listed_segments = segments(&media);
        let total: f64 = listed_segments.iter().map(|(d, _)| d).sum();
        assert!(total >= 6.0, "{uri}: {total} s\n{media}");
        durations.push(total);
        let path = format!("/i/recordings/{id}/{uri}");
        let errors = ffmpeg_reads(&stack, &path, &[]);
        assert!(errors.trim().is_empty(), "{path}: {errors}");
        let (_, last) = listed_segments.last().expect("a segment");
        let resolution = ffprobe_resolution(stack.url(&format!("/i/recordings/{id}/{last}")));
        assert_eq!(resolution, attributes["RESOLUTION"], "{last}");
    }
    // Cut by the same publisher at the same times: a segment apart at most.
    assert!((durations[0] - durations[1]).abs() <= 2.5, "{durations:?}");
    let errors = ffmpeg_reads(&stack, &format!("/i/recordings/{id}/master.m3u8"), &[]);
    assert!(errors.trim().is_empty(), "{id}: {errors}");
    assert!(record(&stack, &["list"]).contains(&format!("{id} stream=s4 stopped renditions=2")));
    // Both renditions ended (the publisher's own ENDLIST); the master never ends.
    for uri in &uris {
        assert!(stack
            .get(&format!("/live/s4/{uri}"))
            .text()
            .contains("#EXT-X-ENDLIST"));
    }
    std::thread::sleep(Duration::from_millis(1100));
    let out = stack.casterpak(&["--sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(published(&stack), Vec::<PathBuf>::new());
    ffmpeg_reads(&stack, &format!("/i/recordings/{id}/master.m3u8"), &[]);
}
