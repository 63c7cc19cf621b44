//! Only GET and HEAD are served under the prefix, hit or miss: nginx answers every other
//! method 405 with `Allow: GET, HEAD` before the worker (so a cold POST packages
//! nothing), OPTIONS keeps its CORS preflight, and the worker refuses them too when
//! something else sends them.

use crate::common::*;
use std::io::{Read, Write};

const REFUSED: [&str; 6] = ["POST", "PUT", "DELETE", "PATCH", "PROPFIND", "FOO"];

const PATHS: [&str; 4] = [
    "/i/clip_low.mp4/master.m3u8",
    "/i/clip_low.mp4/index_0_av.m3u8",
    "/i/clip_low.mp4/segment1_0_av.ts",
    "/i/clip_,low,.mp4.csmil/segment1_0_av.ts",
];

fn assert_refused_everywhere(stack: &Stack, when: &str) {
    for path in PATHS {
        for method in REFUSED {
            // A body-carrying method announces an empty body, as a client would.
            let r = request(stack.port, method, path.as_bytes(), &["Content-Length: 0"]);
            assert_eq!(r.status, 405, "{when} {method} {path}: {}", r.text());
            assert_eq!(r.header("allow"), "GET, HEAD", "{when} {method} {path}");
            assert_eq!(r.header("access-control-allow-origin"), "*");
        }
    }
}

#[test]
fn other_methods_are_405_cold_and_cached_and_never_package() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    // The worker asks `mp42hls --capabilities` once at start.
    let at_start = (stack.mp42hls_runs(), stack.mp4info_runs());
    assert_refused_everywhere(&stack, "cold");
    assert_eq!(stack.cached_files(), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        (stack.mp42hls_runs(), stack.mp4info_runs()),
        at_start,
        "a tool ran"
    );

    // HEAD is a miss like GET; then GET fills the rest.
    let head = request(stack.port, "HEAD", PATHS[2].as_bytes(), &[]);
    assert_eq!(head.status, 200, "HEAD: {}", head.text());
    assert!(head.body.is_empty(), "HEAD answered a body");
    for path in PATHS {
        let r = stack.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    }
    let runs = (stack.mp42hls_runs().len(), stack.mp4info_runs().len());
    let files = stack.cached_files().len();

    assert_refused_everywhere(&stack, "cached");
    let head = request(stack.port, "HEAD", PATHS[2].as_bytes(), &[]);
    assert_eq!(
        (head.status, head.header("x-casterpak-cache")),
        (200, "HIT")
    );
    assert_eq!(
        (stack.mp42hls_runs().len(), stack.mp4info_runs().len()),
        runs,
        "a refused method ran a tool"
    );
    assert_eq!(stack.cached_files().len(), files);

    // The CORS preflight is still nginx's 204, cold or cached.
    for path in [PATHS[0], "/i/clip_low.mp4/segment9_0_av.ts"] {
        let r = request(
            stack.port,
            "OPTIONS",
            path.as_bytes(),
            &[
                "Origin: http://player.example",
                "Access-Control-Request-Method: GET",
            ],
        );
        assert_eq!(r.status, 204, "OPTIONS {path}");
        assert!(r.header("access-control-allow-methods").contains("GET"));
    }
}

/// One request straight to the worker's SCGI socket, as nginx would send it.
fn scgi(stack: &Stack, method: &str, uri: &str) -> String {
    let mut headers = Vec::new();
    for (name, value) in [
        ("CONTENT_LENGTH", "0"),
        ("SCGI", "1"),
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", uri),
    ] {
        headers.extend_from_slice(name.as_bytes());
        headers.push(0);
        headers.extend_from_slice(value.as_bytes());
        headers.push(0);
    }
    let mut message = format!("{}:", headers.len()).into_bytes();
    message.extend_from_slice(&headers);
    message.push(b',');
    let mut socket =
        std::os::unix::net::UnixStream::connect(&stack.worker_socket).expect("connect worker");
    socket.write_all(&message).expect("send");
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn the_worker_refuses_other_methods_itself() {
    let stack = Stack::builder().media("clip_low.mp4").start();
    let at_start = (stack.mp42hls_runs(), stack.mp4info_runs());
    for method in REFUSED.iter().chain(&["OPTIONS", "get"]) {
        let answer = scgi(&stack, method, PATHS[2]);
        assert!(
            answer.starts_with("Status: 405 Method Not Allowed\r\n"),
            "{method}: {answer}"
        );
        assert!(
            answer.contains("\r\nAllow: GET, HEAD\r\n"),
            "{method}: {answer}"
        );
    }
    assert_eq!(stack.cached_files(), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        (stack.mp42hls_runs(), stack.mp4info_runs()),
        at_start,
        "a tool ran"
    );
    let answer = scgi(&stack, "GET", PATHS[2]);
    assert!(answer.starts_with("Status: 200 OK\r\n"), "GET: {answer}");
    assert!(answer.contains("X-Accel-Redirect: "), "GET: {answer}");
}
