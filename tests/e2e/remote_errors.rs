//! Remote sources when the upstream fails (issue 10, test 5): down, 500, silent
//! past the read timeout, cut off mid-body. Each answers 502/504 naming the
//! upstream in the log, leaves nothing cached, is not remembered as bad media
//! (the next request after recovery succeeds at once), and the worker lives on.

use crate::common::archive::Archive;
use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpListener;

/// A server that accepts and then says nothing, holding each connection.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// A server that promises 64 KiB of a range and closes after 1,000 bytes.
fn cutting_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-65535/1000000\r\n\
                        Content-Length: 65536\r\nETag: \"cut\"\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&[0u8; 1000]);
            drop(stream);
        }
    });
    port
}

fn source(prefix: &str, base_url: &str) -> String {
    format!("prefix = \"{prefix}\"\nkind = \"http\"\nbase_url = \"{base_url}\"")
}

#[test]
fn upstream_failures_are_502_or_504_and_never_remembered() {
    let mut archive = Archive::start();
    archive.put(&media("clip_low.mp4"), "vod/c.mp4");
    let input = archive.dir.path().join("input");
    let sources = [
        source("arch", &format!("{}/vod", archive.base_url())),
        source("bad", &format!("{}/err500", archive.base_url())),
        source("hang", &format!("http://127.0.0.1:{}", silent_server())),
        source("cut", &format!("http://127.0.0.1:{}", cutting_server())),
    ]
    .join("\n\n[[sources]]\n");
    let stack = Stack::builder()
        .config("[sources]", &sources)
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .config("remote", "read_timeout_secs = 1")
        .config("remote", "connect_timeout_secs = 1")
        .config("remote", "retries = 1")
        .start();

    for (path, want, upstream) in [
        ("/i/bad/c.mp4/index_0_av.m3u8", 502, "bad"),
        ("/i/hang/c.mp4/index_0_av.m3u8", 504, "hang"),
        ("/i/cut/c.mp4/index_0_av.m3u8", 502, "cut"),
    ] {
        let got = stack.get(path);
        assert_eq!(got.status, want, "{path}: {}", got.text());
        assert!(
            got.text().contains(&format!("upstream {upstream}")),
            "{}",
            got.text()
        );
        assert!(!stack.cache_path(path).exists(), "{path} cached");
    }
    let log = stack.worker_log();
    for upstream in ["bad", "hang", "cut"] {
        assert!(
            log.contains(&format!("upstream {upstream}")),
            "{upstream} not named:\n{log}"
        );
    }

    // Down, then back: the request after recovery succeeds at once.
    archive.stop();
    let path = "/i/arch/c.mp4/segment1_0_av.ts";
    let down = stack.get(path);
    assert_eq!(down.status, 502, "archive down");
    assert!(!stack.cache_path(path).exists());
    archive.restart();
    let up = stack.get(path);
    assert_eq!(up.status, 200, "{}", up.text());
    assert_transport_stream(&up.body, "after recovery");
    let errors =
        stack.metric("casterpak_upstream_errors_total{upstream=\"arch\",kind=\"unreachable\"}");
    assert!(errors >= 1, "refused connections counted ({errors})");
}
