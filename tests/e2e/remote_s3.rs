//! Remote sources in S3 (issue 10, test 1 over S3; wrong credentials): a real
//! S3 server speaking SigV4 (`s3s-fs`, installed by `scripts/install-deps.sh --tests`) on
//! loopback, serving a directory whose subdirectories are buckets.

use crate::common::archive::free_port;
use crate::common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct S3Server {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    child: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs() -> std::path::PathBuf {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    which_s3s().unwrap_or_else(|| home.join(".cargo/bin/s3s-fs"))
}

fn which_s3s() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("s3s-fs"))
        .find(|p| p.is_file())
}

pub(crate) fn start_s3() -> S3Server {
    start_s3_with(&["clip_low.mp4", "clip_medium.mp4", "clip_highdef.mp4"])
}

/// s3s-fs serving bucket `vod` with these test media under `t/`.
pub(crate) fn start_s3_with(media_files: &[&str]) -> S3Server {
    let dir = tempfile::Builder::new()
        .prefix("cpk-s3")
        .tempdir()
        .expect("tempdir");
    let bucket = dir.path().join("vod/t");
    std::fs::create_dir_all(&bucket).expect("bucket dir");
    for name in media_files {
        std::fs::copy(media(name), bucket.join(name)).expect("copy into the bucket");
    }
    let port = free_port();
    let binary = s3s_fs();
    let mut child = Command::new(&binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "casterpak",
            "--secret-key",
            "casterpak-secret",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (`scripts/install-deps.sh --tests` installs s3s-fs)",
                binary.display()
            )
        });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("s3s-fs exited: {status}");
        }
        assert!(Instant::now() < deadline, "s3s-fs did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    S3Server { dir, port, child }
}

pub(crate) fn s3_source(prefix: &str, port: u16, secret: &str) -> String {
    format!(
        "prefix = \"{prefix}\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\n\
         bucket = \"vod\"\nkey_prefix = \"t/\"\npath_style = true\naccess_key_id = \"casterpak\"\nsecret_access_key = \"{secret}\""
    )
}

#[test]
fn a_csmil_master_from_s3_plays_and_wrong_credentials_are_not_cached() {
    let s3 = start_s3();
    let input = s3.dir.path().join("input");
    let sources = [
        s3_source("s3", s3.port, "casterpak-secret"),
        s3_source("s3bad", s3.port, "wrong"),
    ]
    .join("\n\n[[sources]]\n");
    let stack = Stack::builder()
        .config("[sources]", &sources)
        .config(
            "input_cache",
            &format!("root = {:?}", input.display().to_string()),
        )
        .start();
    let master_path = "/i/s3/clip_,low,medium,highdef,.mp4.csmil/master.m3u8";
    let master = stack.get(master_path);
    assert_eq!(master.status, 200, "{}", master.text());
    let variants = variants(&master.text());
    assert_eq!(variants.len(), 3);
    for (attrs, uri) in &variants {
        assert!(attrs.contains_key("CODECS"), "{attrs:?}");
        let playlist_path = resolve(master_path, uri);
        let playlist = stack.get(&playlist_path);
        assert_eq!(playlist.status, 200, "{uri}");
        for (_, segment) in segments(&playlist.text()) {
            let got = stack.get(&resolve(&playlist_path, &segment));
            assert_eq!(got.status, 200, "{segment}: {}", got.text());
            assert_transport_stream(&got.body, &segment);
        }
    }
    assert_ffmpeg_decodes(&stack, master_path, "S3 csmil master");

    // Wrong credentials: S3 refuses (403), which is a 404 logged as a credentials
    // problem; nothing cached, and not remembered as bad media.
    let bad = "/i/s3bad/clip_low.mp4/index_0_av.m3u8";
    let got = stack.get(bad);
    assert_eq!(got.status, 404, "{}", got.text());
    assert!(!stack.cache_path(bad).exists());
    assert!(
        stack.worker_log().contains("check the credentials"),
        "{}",
        stack.worker_log()
    );
}
