//! `record store` (issue 14): a recording remuxed into one MP4 by real ffmpeg,
//! uploaded to a real S3 server (`s3s-fs` on loopback) and played from there through
//! the origin; the upload's multipart path and its refusals; the remux's timestamps
//! over a publisher's restart and its quoting of odd paths.

use crate::common::*;
use crate::live::{
    live_builder, live_master, live_playlist, publish, publish_two_renditions, record, started_id,
    vod_duration, wait_for,
};
use crate::remote_s3::{s3_source, start_s3_with, S3Server};
use casterpak::config::Config;
use casterpak::remote::upload::{PartSizes, S3Target, UploadError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The source table `s3_source` writes, parsed.
fn target(port: u16, secret: &str) -> S3Target {
    let text = format!("[[sources]]\n{}", s3_source("s3", port, secret));
    let config = Config::from_toml(&text).expect("config");
    let source = &config.sources[0];
    S3Target::new(source, source.credentials(&|_| None), &config.remote).expect("target")
}

/// Bytes that differ at every offset of a part (a part sent twice or out of order
/// would not compare equal).
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn uploads_are_whole_in_one_put_or_in_parts_and_refusals_are_named() {
    let s3 = start_s3_with(&[]);
    let work = tempfile::tempdir().expect("tempdir");
    let good = target(s3.port, "casterpak-secret");
    let small = PartSizes {
        multipart_above: 5 << 20,
        part_bytes: 5 << 20,
    };
    // 12 MiB + 7 bytes in 5 MiB parts: three parts, the last short.
    for (name, len, parts) in [("parts.bin", (12 << 20) + 7, 3), ("one.bin", 300_001, 0)] {
        let file = work.path().join(name);
        let bytes = pattern(len);
        std::fs::write(&file, &bytes).expect("write");
        let rest = format!("up/{name}");
        let done = good
            .upload(&rest, &file, small, &|| true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(done.key, format!("t/{rest}"));
        assert_eq!(done.size, len as u64);
        // A multipart object's ETag ends in its part count (as on AWS).
        let multipart = done.etag.trim_matches('"').rsplit_once('-').map(|(_, n)| n);
        match parts {
            0 => assert!(multipart.is_none() && !done.etag.is_empty(), "{done:?}"),
            n => assert_eq!(multipart, Some(n.to_string().as_str()), "{done:?}"),
        }
        let stored = std::fs::read(s3.dir.path().join("vod").join(&done.key)).expect("stored");
        assert!(stored == bytes, "{name}: the stored object differs");
    }

    // Wrong credentials: a 403 named as such, nothing stored. In parts (the create is
    // refused), in one small PUT (the answer is the 403), and in one 40 MiB PUT: the
    // server answers before the body is read and closes, which the client sees as a
    // broken pipe; the HEAD after it says why.
    let big = work.path().join("big.bin");
    std::fs::write(&big, pattern(40 << 20)).expect("write");
    let bad = target(s3.port, "wrong");
    for (name, sizes) in [
        ("parts.bin", small),
        ("one.bin", small),
        ("big.bin", PartSizes::default()),
    ] {
        let err = bad
            .upload(
                &format!("bad/{name}"),
                &work.path().join(name),
                sizes,
                &|| true,
            )
            .unwrap_err();
        assert!(
            matches!(err, UploadError::Refused { status: 403, .. }),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("secret_access_key"), "{text}");
        assert!(!text.contains("X-Amz-Signature"), "{text}");
    }
    assert!(!s3.dir.path().join("vod/t/bad").exists());

    // A stop asked mid-upload ends it: nothing at the key.
    let err = good
        .upload(
            "up/stopped.bin",
            &work.path().join("parts.bin"),
            small,
            &|| false,
        )
        .unwrap_err();
    assert_eq!(err, UploadError::Stopped);
    assert!(good.head("t/up/stopped.bin").expect("head").is_none());
    assert!(!Path::new(&s3.dir.path().join("vod/t/up/stopped.bin")).exists());
}

/// A live stack with S3 sources over `s3`: `s3rec` (right credentials), `s3bad`
/// (a wrong secret) and a local one, `vod`.
fn store_stack(s3: &S3Server, sockets: &Path) -> Stack {
    let sources = [
        s3_source("s3rec", s3.port, "casterpak-secret"),
        s3_source("s3bad", s3.port, "wrong"),
        "prefix = \"vod\"\nkind = \"local\"".to_string(),
    ]
    .join("\n\n[[sources]]\n");
    let input = s3.dir.path().join("input");
    live_builder(sockets, &[])
        .config("[sources]", &sources)
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .start()
}

/// `casterpak record ARGS` that must fail: its exit code is not 0; stdout and stderr.
fn record_fails(stack: &Stack, args: &[&str]) -> String {
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    let out = stack.casterpak(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "record {args:?} succeeded: {text}");
    text
}

/// Every packet's DTS per stream, in file order (ffprobe).
fn dts_per_stream(file: &Path) -> Vec<Vec<f64>> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,dts_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    let mut streams: Vec<Vec<f64>> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split(',');
        let (Some(index), Some(dts)) = (fields.next(), fields.next()) else {
            continue;
        };
        let (Ok(index), Ok(dts)) = (index.parse::<usize>(), dts.parse::<f64>()) else {
            continue;
        };
        if streams.len() <= index {
            streams.resize(index + 1, Vec::new());
        }
        streams[index].push(dts);
    }
    streams
}

/// The MP4 has video and audio whose timestamps only go forward, and no gap longer
/// than `max_gap` seconds (a restart's timestamps starting over would be one).
fn assert_monotonic(file: &Path, max_gap: f64) {
    let streams = dts_per_stream(file);
    assert_eq!(
        streams.len(),
        2,
        "{}: {} streams",
        file.display(),
        streams.len()
    );
    for (n, dts) in streams.iter().enumerate() {
        assert!(dts.len() > 10, "stream {n}: {} packets", dts.len());
        for pair in dts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap > 0.0 && gap <= max_gap,
                "{} stream {n}: DTS {} then {}",
                file.display(),
                pair[0],
                pair[1]
            );
        }
    }
}

/// The first audio packet's bytes, as stored (no bitstream filter).
fn first_audio_packet(file: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:a:0",
            "-c",
            "copy",
            "-frames:a",
            "1",
            "-f",
            "data",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn is_adts(packet: &[u8]) -> bool {
    packet.len() > 7 && packet[0] == 0xff && packet[1] & 0xf0 == 0xf0
}

/// The recording's state file as JSON.
fn state_of(stack: &Stack, id: &str) -> serde_json::Value {
    let path = stack
        .cache_root
        .join("i/recordings")
        .join(id)
        .join(".recording.json");
    serde_json::from_slice(&std::fs::read(path).expect("state")).expect("state JSON")
}

fn scratch_left(stack: &Stack) -> Vec<PathBuf> {
    std::fs::read_dir(stack.cache_root.join(".casterpak-tmp"))
        .expect("scratch dir")
        .flatten()
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_recording_with_a_restart_is_stored_in_s3_and_plays_from_there() {
    let s3 = start_s3_with(&[]);
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = store_stack(&s3, sockets.path());
    let mut first = publish(&stack, "s5", "PUT", "320x240", 8, true);
    wait_for(Duration::from_secs(30), "s5's first playlist", || {
        live_playlist(&stack, "s5").filter(|t| !segments(t).is_empty())
    });
    let id = started_id(&record(&stack, &["start", "s5", "--from", "-4s"]));
    let running = record_fails(&stack, &["store", &id, "--to", "s3rec"]);
    assert!(running.contains("still running"), "{running}");
    assert!(first.wait().expect("first publisher").success());
    // The publisher again: its timestamps and numbering start over.
    let mut second = publish(&stack, "s5", "PUT", "320x240", 6, true);
    assert!(second.wait().expect("second publisher").success());
    record(&stack, &["stop", &id]);
    let (recorded, playlist) = vod_duration(&stack, &id);
    assert_eq!(
        playlist.matches("#EXT-X-DISCONTINUITY").count(),
        1,
        "{playlist}"
    );

    // Refusals: nothing stored, nothing left in the scratch dir.
    for (args, says) in [
        (vec!["store", "s5-1", "--to", "s3rec"], "no recording s5-1"),
        (
            vec!["store", &id, "--to", "vod"],
            "kind = \"local\", not \"s3\"",
        ),
        (
            vec!["store", &id, "--to", "nope"],
            "no [[sources]] entry has prefix \"nope\"",
        ),
        (
            vec!["store", &id, "--to", "s3bad"],
            "refused the upload (403",
        ),
        (vec!["store", &id], "needs `--to PREFIX`"),
    ] {
        let text = record_fails(&stack, &args);
        assert!(text.contains(says), "{args:?}: {text}");
    }
    assert!(!record(&stack, &["list"]).contains("stored="));
    assert!(state_of(&stack, &id)["stored"]
        .as_array()
        .is_some_and(|a| a.is_empty()));
    assert!(!s3.dir.path().join("vod/t/recordings").exists());
    assert_eq!(scratch_left(&stack), Vec::<PathBuf>::new());

    let answer = record(&stack, &["store", &id, "--to", "s3rec"]);
    let url = format!("/i/s3rec/recordings/{id}.mp4/master.m3u8");
    assert_eq!(answer.lines().last(), Some(url.as_str()), "{answer}");
    assert_eq!(scratch_left(&stack), Vec::<PathBuf>::new());
    let object = s3.dir.path().join(format!("vod/t/recordings/{id}.mp4"));
    let size = std::fs::metadata(&object).expect("the object").len();
    let state = state_of(&stack, &id);
    let stored = &state["stored"][0];
    assert_eq!(stored["prefix"], "s3rec");
    assert_eq!(stored["url"], url.as_str());
    assert_eq!(
        stored["objects"][0]["key"],
        format!("t/recordings/{id}.mp4")
    );
    assert_eq!(stored["objects"][0]["size"], size);
    assert!(stored["objects"][0]["etag"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(answer.contains(&format!("{size} bytes")), "{answer}");
    let listed = record(&stack, &["list"]);
    assert!(
        listed.contains(&format!("stored={url} ({size} bytes)")),
        "{listed}"
    );

    // One timeline over the restart (the concat demuxer's offsets), ADTS made raw.
    assert_monotonic(&object, 0.5);
    assert!(is_adts(&first_audio_packet(
        &stack
            .cache_root
            .join("i/recordings")
            .join(&id)
            .join("seg0.ts")
    )));
    assert!(
        !is_adts(&first_audio_packet(&object)),
        "ADTS headers in the MP4"
    );

    // Played through the origin from S3: silent decode, the recording's duration.
    assert_ffmpeg_decodes(&stack, &url, "the stored recording");
    let media = stack.get(&format!("/i/s3rec/recordings/{id}.mp4/index_0_av.m3u8"));
    assert_eq!(media.status, 200, "{}", media.text());
    let played: f64 = segments(&media.text()).iter().map(|(d, _)| d).sum();
    eprintln!("{id}: recorded {recorded:.2} s, stored {size} bytes, plays {played:.2} s");
    assert!(
        (played - recorded).abs() < 1.0,
        "{played} s against {recorded} s"
    );
    assert!(!media.text().contains("#EXT-X-DISCONTINUITY"));
    // The recording itself stays.
    assert_eq!(
        stack.get(&format!("/i/recordings/{id}/master.m3u8")).status,
        200
    );
}

#[test]
fn two_renditions_are_stored_as_a_csmil_over_http() {
    let s3 = start_s3_with(&[]);
    let sockets = tempfile::tempdir().expect("tempdir");
    let mut stack = store_stack(&s3, sockets.path());
    let mut publisher = publish_two_renditions(&stack, "s6", 10);
    live_master(&stack, "s6");
    let id = started_id(&record(&stack, &["start", "s6", "--from", "-4s"]));
    assert!(publisher.wait().expect("publisher").success());
    record(&stack, &["stop", &id]);
    let answer = stack.get(&format!(
        "/_casterpak/record?store={id}&to=s3rec&key=shows/{id}.mp4"
    ));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let url = format!("/i/s3rec/shows/{id}_,0,1,.mp4.csmil/master.m3u8");
    assert!(
        answer.text().trim_end().ends_with(&url),
        "{}",
        answer.text()
    );
    for (n, size) in [(0, "320x240"), (1, "160x120")] {
        let object = s3.dir.path().join(format!("vod/t/shows/{id}_{n}.mp4"));
        assert_eq!(ffprobe_resolution(&object), size);
        assert_monotonic(&object, 0.5);
    }
    let master = stack.get(&url);
    assert_eq!(master.status, 200, "{}", master.text());
    assert_eq!(variants(&master.text()).len(), 2, "{}", master.text());
    assert_ffmpeg_decodes(&stack, &url, "the stored csmil");
    assert!(record(&stack, &["list"]).contains(&format!("stored={url}")));
    // Over HTTP a refusal is a 400 with the reason.
    let refused = stack.get(&format!("/_casterpak/record?store={id}&to=vod"));
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("not \"s3\""), "{}", refused.text());

    // Without ffmpeg: named, and the store before it stays recorded.
    stack.reconfigure("live", "ffmpeg = \"/nonexistent/ffmpeg\"");
    stack.stop_worker();
    stack.start_worker();
    let missing = record_fails(&stack, &["store", &id, "--to", "s3rec", "--key", "x.mp4"]);
    assert!(
        missing.contains("ffmpeg /nonexistent/ffmpeg not found") && missing.contains("live.ffmpeg"),
        "{missing}"
    );
    assert!(!s3.dir.path().join("vod/t/x_0.mp4").exists());
    assert!(record(&stack, &["list"]).contains(&format!("stored={url}")));

    // An ffmpeg that first sleeps (its shell's pid is its process group).
    let slow = stack.dir.path().join("slow-ffmpeg");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\necho $$ > {0}.pid\nsleep 30\nexec {1} \"$@\"\n",
            slow.display(),
            which_ffmpeg().display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let group_gone = |what: &str| {
        let pid: i32 = std::fs::read_to_string(format!("{}.pid", slow.display()))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        wait_for(Duration::from_secs(5), what, || {
            let group = nix::unistd::Pid::from_raw(pid);
            nix::sys::signal::killpg(group, None).is_err().then_some(())
        });
        std::fs::remove_file(format!("{}.pid", slow.display())).expect("pid file");
    };
    stack.reconfigure(
        "live",
        &format!("ffmpeg = {:?}", slow.display().to_string()),
    );
    // Past store_timeout_secs: refused, named, its processes gone.
    stack.reconfigure("live", "store_timeout_secs = 2");
    stack.stop_worker();
    stack.start_worker();
    let started = std::time::Instant::now();
    let late = record_fails(
        &stack,
        &["store", &id, "--to", "s3rec", "--key", "late.mp4"],
    );
    eprintln!("after {:?}: {}", started.elapsed(), late.trim());
    assert!(
        late.contains("longer than live.store_timeout_secs (2 s)"),
        "{late}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    group_gone("the timed-out ffmpeg's group to go");
    // A stop ends a running store at once: nothing stored, nothing left running.
    stack.reconfigure("live", "store_timeout_secs = 3600");
    stack.stop_worker();
    stack.start_worker();
    let (config, id2) = (stack.config_path.clone(), id.clone());
    let stopper = std::thread::spawn(move || {
        Command::new(casterpak_bin())
            .args([
                "record", "store", &id2, "--to", "s3rec", "--key", "stop.mp4",
            ])
            .arg("--config")
            .arg(config)
            .output()
    });
    wait_for(Duration::from_secs(10), "the slow ffmpeg to start", || {
        Path::new(&format!("{}.pid", slow.display()))
            .is_file()
            .then_some(())
    });
    let (status, took) =
        stack.signal_worker(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10));
    assert!(
        status.success() && took < Duration::from_secs(8),
        "{status} in {took:?}"
    );
    let out = stopper.join().expect("client thread").expect("client");
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("stopped in {took:?} during a store: {}", said.trim());
    assert!(!out.status.success() && said.contains("stopping"), "{said}");
    group_gone("the stopped ffmpeg's group to go");
    for name in ["late", "stop"] {
        assert!(!s3.dir.path().join(format!("vod/t/{name}_0.mp4")).exists());
    }
    let state = std::fs::read_to_string(
        stack
            .cache_root
            .join("i/recordings")
            .join(&id)
            .join(".recording.json"),
    )
    .expect("state");
    assert_eq!(state.matches("\"url\"").count(), 1, "{state}");
}

/// The remux alone, through a dir whose name needs quoting, over files whose
/// timestamps start over (two runs of ffmpeg): one timeline, raw AAC.
#[test]
fn the_remux_quotes_paths_and_keeps_one_timeline_over_a_restart() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("it's a b:c\\d");
    std::fs::create_dir_all(&dir).expect("odd dir");
    let mut files = Vec::new();
    for run in 0..2 {
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=160x120:rate=25")
            .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-c:a", "aac", "-f", "hls", "-hls_time", "1"])
            .args(["-hls_segment_filename"])
            .arg(dir.join(format!("run{run}_%d.ts")))
            .arg(dir.join(format!("run{run}.m3u8")))
            .output()
            .expect("ffmpeg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list = std::fs::read_to_string(dir.join(format!("run{run}.m3u8"))).expect("list");
        files.extend(segments(&list).into_iter().map(|(_, uri)| dir.join(uri)));
    }
    assert!(files.len() >= 4, "{files:?}");
    let script = work.path().join("list.ffconcat");
    std::fs::write(
        &script,
        casterpak::tool::ffmpeg::concat_script(&files).expect("script"),
    )
    .expect("write");
    let out = dir.join("out.mp4");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let limits = casterpak::tool::RunLimits {
        timeout: Duration::from_secs(60),
        memory_bytes: 2 << 30,
    };
    let ffmpeg = which_ffmpeg();
    runtime
        .block_on(casterpak::tool::ffmpeg::remux(
            &ffmpeg, &script, &out, limits,
        ))
        .expect("remux");
    assert_monotonic(&out, 0.5);
    assert!(!is_adts(&first_audio_packet(&out)));
    let duration = ffprobe_duration(&out);
    assert!((duration - 4.0).abs() < 0.3, "{duration} s");
    // A missing input is ffmpeg's own error, named.
    let gone = vec![dir.join("gone.ts")];
    std::fs::write(
        &script,
        casterpak::tool::ffmpeg::concat_script(&gone).expect("script"),
    )
    .expect("write");
    let err = runtime
        .block_on(casterpak::tool::ffmpeg::remux(
            &ffmpeg,
            &script,
            &dir.join("x.mp4"),
            limits,
        ))
        .unwrap_err();
    assert!(err.to_string().starts_with("ffmpeg failed: "), "{err}");
}

fn which_ffmpeg() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("ffmpeg"))
                .find(|p| p.is_file())
        })
        .expect("ffmpeg on PATH")
}
