//! Two origins over one object store (issue 10, test 6): two stacks, each with its
//! own worker, nginx, disk cache and input cache, read the same S3 bucket; a real
//! nginx in front balances them by consistent hashing of the URI and retries the
//! other origin when one fails. Every segment is answered 200 through it, both
//! origins package byte-identical files, and killing one origin in the middle of a
//! run of cold requests costs no answer.

use crate::common::archive::free_port;
use crate::common::*;
use crate::remote_s3::{s3_source, start_s3};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CSMIL: &str = "/i/s3/clip_,low,medium,highdef,.mp4.csmil/master.m3u8";

/// nginx as the load balancer an operator puts in front of several origins.
struct Balancer {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn balancer(origins: &[u16]) -> Balancer {
    let dir = tempfile::Builder::new()
        .prefix("cpk-lb")
        .tempdir()
        .expect("tempdir");
    let port = free_port();
    let servers: String = origins
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=60s;\n"))
        .collect();
    let d = dir.path().display();
    let conf = format!(
        "pid {d}/nginx.pid;\nworker_processes 1;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 upstream origins {{\n    hash $request_uri consistent;\n{servers}  }}\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://origins;\n\
         \x20     proxy_next_upstream error timeout http_502 http_503 http_504;\n\
         \x20     proxy_next_upstream_tries 2;\n      proxy_connect_timeout 2s;\n\
         \x20     add_header X-Origin $upstream_addr always;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("balancer config");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(format!("{d}/"))
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the balancer did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Balancer {
        port,
        child,
        _dir: dir,
    }
}

fn origin(s3_port: u16, input: &Path) -> Stack {
    Stack::builder()
        .config("[sources]", &s3_source("s3", s3_port, "casterpak-secret"))
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .start()
}

/// Every media playlist and segment path a master leads to.
fn title_paths(port: u16, master: &str) -> Vec<String> {
    let r = request(port, "GET", master.as_bytes(), &[]);
    assert_eq!(r.status, 200, "{master}: {}", r.text());
    let mut out = Vec::new();
    for (_, uri) in variants(&r.text()) {
        let playlist = resolve(master, &uri);
        let text = request(port, "GET", playlist.as_bytes(), &[]).text();
        for (_, segment) in segments(&text) {
            out.push(resolve(&playlist, &segment));
        }
        out.push(playlist);
    }
    out
}

#[test]
fn two_origins_over_one_bucket_answer_alike_and_cover_for_each_other() {
    let s3 = start_s3();
    let a = origin(s3.port, &s3.dir.path().join("input-a"));
    let b = origin(s3.port, &s3.dir.path().join("input-b"));
    let lb = balancer(&[a.port, b.port]);

    let paths = title_paths(lb.port, CSMIL);
    assert!(paths.len() > 6, "{paths:?}");
    let a_addr = format!("127.0.0.1:{}", a.port);
    let mut answered_by = std::collections::BTreeSet::new();
    let mut hashed_to_a = Vec::new();
    for path in &paths {
        let via = request(lb.port, "GET", path.as_bytes(), &[]);
        assert_eq!(
            via.status,
            200,
            "{path} through the balancer: {}",
            via.text()
        );
        answered_by.insert(via.header("x-origin").to_string());
        if via.header("x-origin") == a_addr {
            hashed_to_a.push(path.clone());
        }
        // Deterministic packaging: each origin, asked directly, has the same bytes.
        let (from_a, from_b) = (a.get(path), b.get(path));
        assert_eq!((from_a.status, from_b.status), (200, 200), "{path}");
        assert!(
            from_a.body == via.body && from_b.body == via.body,
            "{path} differs"
        );
    }
    assert_eq!(
        answered_by.len(),
        2,
        "one origin took every URI: {answered_by:?}"
    );

    // Cold requests for another title while origin A goes away mid-run.
    std::fs::copy(media("clip_low.mp4"), s3.dir.path().join("vod/t/other.mp4"))
        .expect("another object in the bucket");
    let paths = title_paths(lb.port, "/i/s3/other.mp4/master.m3u8");
    let half = paths.len() / 2;
    let mut a = Some(a);
    for (i, path) in paths.iter().enumerate() {
        if i == half {
            drop(a.take()); // its worker and its nginx, killed
        }
        let via = request(lb.port, "GET", path.as_bytes(), &[]);
        let n = paths.len();
        assert_eq!(via.status, 200, "{path} ({i} of {n}): {}", via.text());
        if path.ends_with(".ts") {
            assert_transport_stream(&via.body, path);
        }
    }
    // What the hash sends to A is answered by B now (the first after a failed try).
    for path in &hashed_to_a {
        let via = request(lb.port, "GET", path.as_bytes(), &[]);
        assert_eq!(via.status, 200, "{path}: {}", via.text());
        assert!(!via.header("x-origin").ends_with(&a_addr), "{path}");
    }
}
