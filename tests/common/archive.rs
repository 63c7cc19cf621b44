//! An HTTP archive for the remote-source tests: Debian's nginx serving a temp dir
//! on loopback (Range, ETag, Last-Modified are its own), with an unbuffered access
//! log that says what each request asked for and how many body bytes it got.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Archive {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub www: PathBuf,
    child: Option<Child>,
}

/// One access log line.
#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub status: u16,
    pub bytes: u64,
    pub range: String,
}

impl Archive {
    pub fn start() -> Archive {
        let dir = tempfile::Builder::new()
            .prefix("cpk-archive")
            .tempdir()
            .expect("tempdir");
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).expect("www");
        std::fs::create_dir_all(dir.path().join("logs")).expect("logs");
        let mut archive = Archive {
            port: 0,
            www,
            dir,
            child: None,
        };
        archive.port = free_port();
        archive.run();
        archive
    }

    fn run(&mut self) {
        let d = self.dir.path().display().to_string();
        let conf = format!(
            "user root;\nworker_processes 1;\ndaemon off;\npid {d}/logs/nginx.pid;\nerror_log {d}/logs/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  log_format archive '$uri $status $body_bytes_sent \"$http_range\"';\n\
             access_log {d}/logs/access.log archive;\n\
             client_body_temp_path {d}/logs/body; proxy_temp_path {d}/logs/proxy;\n\
             fastcgi_temp_path {d}/logs/fastcgi; uwsgi_temp_path {d}/logs/uwsgi; scgi_temp_path {d}/logs/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n\
             location /err500/ {{ return 500; }}\n    location / {{ }}\n  }}\n}}\n",
            port = self.port
        );
        let conf_path = self.dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("archive nginx.conf");
        let _ = std::fs::remove_file(self.dir.path().join("logs/nginx.pid"));
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(format!("{d}/"))
            .arg("-e")
            .arg(format!("{d}/logs/error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx (scripts/install-deps.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ours = std::fs::read_to_string(self.dir.path().join("logs/nginx.pid"))
                .is_ok_and(|p| p.trim() == child.id().to_string());
            if ours && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("archive nginx exited: {status}");
            }
            // (still running: polled again below)
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("archive nginx did not start");
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Puts `source` into the archive as `name` (a hard link when it can be).
    pub fn put(&self, source: &Path, name: &str) {
        let target = self.www.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("archive subdir");
        }
        let tmp = self.www.join(format!(".{}.tmp", name.replace('/', "_")));
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(source, &tmp).is_err() {
            std::fs::copy(source, &tmp).expect("copy into the archive");
        }
        std::fs::rename(&tmp, &target).expect("rename into the archive");
    }

    /// Stops nginx (the upstream is down until `restart`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: nginx's fast shutdown stops its workers too (a SIGKILLed
            // master would leave them serving).
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            while Instant::now() < deadline
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Every request logged so far.
    pub fn log(&self) -> Vec<Logged> {
        let text =
            std::fs::read_to_string(self.dir.path().join("logs/access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (head, range) = line.split_once(" \"")?;
                let mut words = head.split(' ');
                Some(Logged {
                    uri: words.next()?.to_string(),
                    status: words.next()?.parse().ok()?,
                    bytes: words.next()?.parse().ok()?,
                    range: range.trim_end_matches('"').to_string(),
                })
            })
            .collect()
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// Bytes of an MP4 that are not media: everything but `mdat` payloads (top-level
/// boxes, 32- and 64-bit sizes).
pub fn index_bytes(path: &Path) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).expect("open mp4");
    let size = f.metadata().expect("stat").len();
    let (mut at, mut index) = (0u64, 0u64);
    while at + 8 <= size {
        let mut h = [0u8; 16];
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.read_exact(&mut h[..8]).expect("box header");
        let mut box_size = u64::from(u32::from_be_bytes(h[0..4].try_into().unwrap()));
        let mut header = 8;
        if box_size == 1 {
            f.read_exact(&mut h[8..16]).expect("large size");
            box_size = u64::from_be_bytes(h[8..16].try_into().unwrap());
            header = 16;
        } else if box_size == 0 {
            box_size = size - at;
        }
        index += if &h[4..8] == b"mdat" {
            header
        } else {
            box_size
        };
        at += box_size;
    }
    index
}
