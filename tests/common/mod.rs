//! End-to-end harness: a `Stack` is a temp dir with media, cache, database, sockets and a
//! config, the real worker (`casterpak serve`) and the real nginx (standalone config from
//! `casterpak nginx-conf --standalone`) on a free loopback port. Both die with the Stack,
//! also when a test panics.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the harness

pub mod archive;
pub mod builder;
pub mod fmp4;
pub mod hls;
pub mod http;
pub mod tools;

pub use builder::StackBuilder;
pub use hls::*;
pub use http::{request, resolve, Response};
pub use tools::Packaging;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory of test media: `CASTERPAK_TEST_MEDIA` or `<repo>/tests/media`.
pub fn media_dir() -> PathBuf {
    std::env::var_os("CASTERPAK_TEST_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media"))
}

/// A test media file; a missing one fails the test (scripts/make-media.sh makes them).
pub fn media(name: &str) -> PathBuf {
    let path = media_dir().join(name);
    assert!(
        path.is_file(),
        "test media {} is missing: run scripts/make-media.sh {}",
        path.display(),
        media_dir().display()
    );
    path
}

pub fn casterpak_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_casterpak"))
}

/// Where cargo put the worker, and so `mp4info`/`mp42hls` of the same workspace build.
pub fn bin_dir() -> PathBuf {
    casterpak_bin()
        .parent()
        .expect("binary has a directory")
        .to_path_buf()
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub config_path: PathBuf,
    pub media_root: PathBuf,
    pub cache_root: PathBuf,
    pub nginx_prefix: PathBuf,
    pub tools: tools::Wrappers,
    worker: Option<Child>,
    nginx: Option<Child>,
    pub worker_socket: PathBuf,
    config: BTreeMap<String, Vec<String>>,
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder {
            media: Vec::new(),
            packaging: Packaging::JustInTime,
            config: BTreeMap::new(),
        }
    }

    fn start(b: StackBuilder) -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("cpk")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        let media_root = root.join("media");
        let cache_root = root.join("cache");
        std::fs::create_dir_all(&media_root).expect("media root");
        std::fs::create_dir_all(&cache_root).expect("cache root");
        for (name, source) in &b.media {
            let target = media_root.join(name);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).expect("media subdir");
            }
            std::fs::copy(source, &target).expect("copy media");
        }
        let tools = tools::write(&root.join("tools"), &bin_dir(), b.packaging);
        let worker_socket = root.join("worker.sock");
        let mut config = b.config;
        let top = config.entry(String::new()).or_default();
        for (key, value) in [
            ("listen", worker_socket.clone()),
            ("control_socket", root.join("control.sock")),
            ("hit_log", root.join("hits.log")),
            ("media_root", media_root.clone()),
            ("cache_root", cache_root.clone()),
            ("db_path", root.join("db")),
        ] {
            top.insert(0, format!("{key} = {:?}", value.display().to_string()));
        }
        let tools_section = config.entry("tools".into()).or_default();
        tools_section.push(format!(
            "mp4info = {:?}",
            tools.mp4info.display().to_string()
        ));
        tools_section.push(format!(
            "mp42hls = {:?}",
            tools.mp42hls.display().to_string()
        ));
        let config_path = root.join("casterpak.toml");
        std::fs::write(&config_path, builder::config_text(&config)).expect("write config");
        let nginx_prefix = root.join("nginx");
        std::fs::create_dir_all(nginx_prefix.join("logs")).expect("nginx logs dir");
        std::fs::create_dir_all(nginx_prefix.join("www")).expect("nginx www dir");
        let mut stack = Stack {
            dir,
            port: 0,
            config_path,
            media_root,
            cache_root,
            nginx_prefix,
            tools,
            worker: None,
            nginx: None,
            worker_socket,
            config,
        };
        stack.start_worker();
        stack.start_nginx();
        stack
    }

    /// Starts `casterpak serve` and waits until its socket accepts connections.
    pub fn start_worker(&mut self) {
        assert!(self.worker.is_none(), "worker already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("worker.log"))
            .expect("worker log");
        let child = Command::new(casterpak_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn casterpak serve");
        self.worker = Some(child);
        let socket = self.worker_socket.clone();
        self.wait_for("worker socket", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
    }

    fn start_nginx(&mut self) {
        for _attempt in 0..5 {
            self.port = free_port();
            let out = Command::new(casterpak_bin())
                .args(["nginx-conf", "--config"])
                .arg(&self.config_path)
                .args(["--standalone", "--listen"])
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("--prefix")
                .arg(&self.nginx_prefix)
                .output()
                .expect("run casterpak nginx-conf");
            assert!(
                out.status.success(),
                "nginx-conf: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(self.nginx_prefix.join("nginx.conf"), &out.stdout).expect("nginx.conf");
            let mut child = Command::new("nginx")
                .arg("-p")
                .arg(format!("{}/", self.nginx_prefix.display()))
                .arg("-e")
                .arg(self.nginx_prefix.join("logs/error.log"))
                .arg("-c")
                .arg(self.nginx_prefix.join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nginx (scripts/install-deps.sh installs it)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: most likely the port was taken meanwhile
                }
                // Our pid in our pid file: nginx bound the port (it writes the file only
                // after opening its sockets), so the port answers for this stack and not
                // for another test's nginx that took the same free port.
                let pid_file = self.nginx_prefix.join("logs/nginx.pid");
                let ours = std::fs::read_to_string(&pid_file)
                    .is_ok_and(|p| p.trim() == child.id().to_string());
                if ours && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.nginx = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start: {}", self.nginx_error_log());
    }

    fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ready() {
                return;
            }
            if let Some(worker) = self.worker.as_mut() {
                if let Ok(Some(status)) = worker.try_wait() {
                    panic!(
                        "worker exited ({status}) before {what}:\n{}",
                        self.worker_log()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}:\n{}", self.worker_log());
    }

    /// SIGKILLs the worker (no cleanup on its side) and reaps it.
    pub fn kill_worker(&mut self) {
        if let Some(mut child) = self.worker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the worker to stop (SIGTERM) and waits up to 10 s, then kills it.
    pub fn stop_worker(&mut self) {
        if let Some(mut child) = self.worker.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the worker and waits up to `within` for it to exit; its exit
    /// status and how long it took. A worker still running then is killed and fails
    /// the test.
    pub fn signal_worker(
        &mut self,
        signal: Signal,
        within: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let mut child = self.worker.take().expect("worker running");
        let sent = Instant::now();
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal the worker");
        while sent.elapsed() < within {
            if let Ok(Some(status)) = child.try_wait() {
                return (status, sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the worker did not exit within {within:?} of {signal}:\n{}",
            self.worker_log()
        );
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path.as_bytes(), &[])
    }

    pub fn get_raw(&self, path: &[u8]) -> Response {
        request(self.port, "GET", path, &[])
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Runs `casterpak <args> --config <this stack's config>`.
    pub fn casterpak(&self, args: &[&str]) -> Output {
        Command::new(casterpak_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run casterpak")
    }

    /// Sets a TOML line in `section` of the config file (replacing a line for the same
    /// key); a running worker sees it only after a restart.
    pub fn reconfigure(&mut self, section: &str, line: &str) {
        let key = line.split('=').next().unwrap_or("").trim().to_string();
        let lines = self.config.entry(section.to_string()).or_default();
        lines.retain(|l| l.split('=').next().unwrap_or("").trim() != key);
        lines.push(line.to_string());
        std::fs::write(&self.config_path, builder::config_text(&self.config))
            .expect("write config");
    }

    /// A counter of the worker's metrics endpoint (0 when absent).
    pub fn metric(&self, name: &str) -> u64 {
        metric_of(self.port, name)
    }

    /// Waits until the worker has read at least `n` cache hits from nginx's hit log
    /// (nginx writes its buffer out every `hit_flush_ms` rounded up to seconds).
    pub fn wait_for_hits(&mut self, n: u64) {
        let port = self.port;
        self.wait_for(&format!("{n} hits read from the hit log"), || {
            metric_of(port, "casterpak_hits_total") >= n
        });
    }

    pub fn mp42hls_runs(&self) -> Vec<String> {
        tools::runs(&self.tools.mp42hls_log)
    }

    pub fn mp4info_runs(&self) -> Vec<String> {
        tools::runs(&self.tools.mp4info_log)
    }

    /// Makes the mp42hls wrapper sleep `secs` before each run (None: no sleep).
    pub fn set_slow(&self, secs: Option<u32>) {
        match secs {
            Some(s) => std::fs::write(&self.tools.slow_flag, s.to_string()).expect("slow flag"),
            None => {
                let _ = std::fs::remove_file(&self.tools.slow_flag);
            }
        }
    }

    pub fn cache_path(&self, url_path: &str) -> PathBuf {
        self.cache_root.join(url_path.trim_start_matches('/'))
    }

    pub fn worker_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    pub fn nginx_error_log(&self) -> String {
        std::fs::read_to_string(self.nginx_prefix.join("logs/error.log")).unwrap_or_default()
    }

    /// How many files the cache holds for `/i/<name>.mp4/…`.
    pub fn rendition_files(&self, name: &str) -> usize {
        let dir = self.cache_path(&format!("/i/{name}.mp4"));
        self.cached_files()
            .iter()
            .filter(|p| p.starts_with(&dir))
            .count()
    }

    /// Every regular file and symlink under the cache's `<url_prefix>` tree ("i").
    pub fn cached_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.cache_root.join("i"), &mut out);
        out
    }
}

fn metric_of(port: u16, name: &str) -> u64 {
    let r = request(port, "GET", b"/_casterpak/metrics", &[]);
    assert_eq!(r.status, 200, "metrics: {}", r.text());
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(_) => out.push(path),
            Err(_) => {}
        }
    }
}

impl Stack {
    /// Stops nginx and starts it again on the same port and config, as after a
    /// reboot: its open-file cache (which keeps descriptors of hit files for
    /// `open_file_cache_valid`) starts empty.
    pub fn restart_nginx(&mut self) {
        self.stop_nginx();
        self.start_nginx();
    }

    fn stop_nginx(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            // SIGTERM: the master stops its worker process too (SIGKILL would orphan it).
            let _ = kill(Pid::from_raw(nginx.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = nginx.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = nginx.kill();
            let _ = nginx.wait();
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_nginx();
        self.kill_worker();
        if std::thread::panicking() {
            eprintln!(
                "--- worker log ---\n{}\n--- nginx error log ---\n{}",
                self.worker_log(),
                self.nginx_error_log()
            );
        }
    }
}
