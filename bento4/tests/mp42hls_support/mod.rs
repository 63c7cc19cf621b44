//! Shared by the `mp42hls*` integration tests: media lookup, running the tool in a
//! scratch directory, reading playlists, and a small transport stream reader that
//! checks our output independently of the muxer's own code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TOOL: &str = env!("CARGO_BIN_EXE_mp42hls");

pub fn media_dir() -> PathBuf {
    std::env::var_os("CASTERPAK_TEST_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/media"))
}

/// A test medium; fails the test when it is missing.
pub fn media(name: &str) -> PathBuf {
    let path = media_dir().join(name);
    assert!(
        path.is_file(),
        "test medium {} is missing (CASTERPAK_TEST_MEDIA)",
        path.display()
    );
    path
}

/// What real Bento4 1.6.0-641 produced on the test media (copied from
/// shared/reference/bento4 into the repository so CI has it).
pub fn reference(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mp42hls_reference")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reference {}: {e}", path.display()))
}

/// A directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        // A counter, not the clock: tests run on parallel threads, and two of them with
        // the same label once got the same nanosecond and so one directory.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mp42hls-{label}-{}-{n}", std::process::id()));
        // An old run's leftover with this name is not ours: start empty.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn text(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).unwrap()
    }

    /// File names in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs mp42hls in `dir` with `args`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(TOOL)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs mp42hls and fails the test unless it succeeds.
pub fn run_ok(dir: &Path, args: &[&str]) -> Output {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "mp42hls {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The common naming used against the reference playlists.
pub const NAMES: [&str; 4] = [
    "--segment-filename-template",
    "segment%d.ts",
    "--segment-url-template",
    "segment%d.ts",
];

/// (EXTINF values, TARGETDURATION, URIs) of a media playlist.
pub fn playlist_entries(text: &str) -> (Vec<f64>, u64, Vec<String>) {
    let mut extinf = Vec::new();
    let mut target = 0;
    let mut uris = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("#EXTINF:") {
            extinf.push(value.trim_end_matches(',').parse().unwrap());
        } else if let Some(value) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target = value.parse().unwrap();
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line.to_string());
        }
    }
    (extinf, target, uris)
}

/// One transport packet, decoded just enough to check the stream.
#[derive(Debug, Clone)]
pub struct Packet {
    pub pid: u16,
    pub unit_start: bool,
    pub continuity: u8,
    pub random_access: bool,
    pub pcr: Option<u64>,
    pub payload: Vec<u8>,
}

/// Splits a segment into packets, failing on a bad sync byte or length.
pub fn packets(data: &[u8]) -> Vec<Packet> {
    assert_eq!(data.len() % 188, 0, "not 188-aligned: {} bytes", data.len());
    data.chunks(188)
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p[0], 0x47, "sync byte of packet {i}");
            let control = (p[3] >> 4) & 3;
            let mut start = 4;
            let mut random_access = false;
            let mut pcr = None;
            if control & 2 != 0 {
                let len = p[4] as usize;
                if len > 0 {
                    random_access = p[5] & 0x40 != 0;
                    if p[5] & 0x10 != 0 {
                        pcr = Some(
                            ((p[6] as u64) << 25)
                                | ((p[7] as u64) << 17)
                                | ((p[8] as u64) << 9)
                                | ((p[9] as u64) << 1)
                                | ((p[10] as u64) >> 7),
                        );
                    }
                }
                start = 5 + len;
            }
            assert!(control & 1 != 0, "packet {i} without payload");
            Packet {
                pid: (((p[1] & 0x1F) as u16) << 8) | p[2] as u16,
                unit_start: p[1] & 0x40 != 0,
                continuity: p[3] & 0x0F,
                random_access,
                pcr,
                payload: p[start..].to_vec(),
            }
        })
        .collect()
}

/// PTS and DTS of a PES header at the start of `payload`.
pub fn pes_times(payload: &[u8]) -> (u64, u64) {
    assert_eq!(&payload[..3], &[0, 0, 1], "PES start code");
    let read = |b: &[u8]| {
        (((b[0] as u64 >> 1) & 7) << 30)
            | ((b[1] as u64) << 22)
            | ((b[2] as u64 >> 1) << 15)
            | ((b[3] as u64) << 7)
            | (b[4] as u64 >> 1)
    };
    let pts = read(&payload[9..14]);
    let dts = if payload[7] & 0x40 != 0 {
        read(&payload[14..19])
    } else {
        pts
    };
    (pts, dts)
}

/// Elementary stream bytes of the first PES on `pid` in `packets`.
pub fn first_pes_payload(packets: &[Packet], pid: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut started = false;
    for p in packets.iter().filter(|p| p.pid == pid) {
        if p.unit_start {
            if started {
                break;
            }
            started = true;
        }
        if started {
            out.extend_from_slice(&p.payload);
        }
    }
    let header_len = 9 + out[8] as usize;
    out[header_len..].to_vec()
}

/// Runs ffprobe with `args`, returning stdout; fails on a non-zero exit.
pub fn ffprobe(args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(args)
        .output()
        .expect("ffprobe must be installed");
    assert!(
        out.status.success(),
        "ffprobe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `ffmpeg -v error` decodes everything `playlist` lists: exit 0, nothing on stderr.
pub fn assert_ffmpeg_decodes(playlist: &Path, what: &str) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(playlist)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg must be installed");
    assert!(out.status.success(), "{what}: ffmpeg failed");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "{what}: ffmpeg complained"
    );
}

/// Runs `mp42hls --serve` over `text` (newline-delimited jobs) on its stdin until it
/// ends, expecting exit 0; returns its answers, one JSON value a line.
pub fn serve_pipe(text: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(TOOL)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mp42hls --serve");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(text.as_bytes())
        .expect("write the jobs");
    let out = child.wait_with_output().expect("mp42hls --serve ends");
    assert_eq!(out.status.code(), Some(0), "mp42hls --serve exit status");
    String::from_utf8(out.stdout)
        .expect("UTF-8 answers")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an answer is JSON"))
        .collect()
}

/// [`serve_pipe`] over these jobs, one a line.
pub fn serve_jobs(jobs: &[serde_json::Value]) -> Vec<serde_json::Value> {
    serve_pipe(&jobs.iter().map(|j| format!("{j}\n")).collect::<String>())
}
