//! The operator's control socket: a unix stream socket (mode 0600) that takes one
//! request line and gives one answer line. It exists because sled allows one
//! process per database: `casterpak --sweep` from cron asks the running worker to
//! sweep instead of opening the database itself.
//!
//! Protocol: `sweep`, `sweep --dry-run`, `purge <url path>`, `record <command>` or `ping`,
//! each ended by `\n`; the answer is one line, starting with `error: ` when the request
//! failed (a `record store` answers when its upload is done).

use futures::future::BoxFuture;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// Longest request line accepted: a purge path, bounded like a URL path.
const MAX_REQUEST_BYTES: u64 = 8192;
/// Longest answer a client reads.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// A client that does not send its line within this is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlRequest {
    Sweep {
        dry_run: bool,
    },
    /// `casterpak purge`: the URL path or prefix, verbatim to the end of the line.
    Purge {
        path: String,
    },
    Ping,
    /// `casterpak record …` (live recordings).
    Record(crate::live::record::Command),
}

impl ControlRequest {
    /// Pure parser of one request line (without its newline).
    pub fn parse(line: &[u8]) -> Result<ControlRequest, String> {
        let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
        if let Some(path) = text.strip_prefix("purge ").filter(|p| !p.is_empty()) {
            return Ok(ControlRequest::Purge {
                path: path.to_string(),
            });
        }
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        if let Some(("record", rest)) = words.split_first().map(|(w, r)| (*w, r)) {
            return crate::live::record::Command::parse(rest).map(ControlRequest::Record);
        }
        match words.as_slice() {
            ["sweep"] => Ok(ControlRequest::Sweep { dry_run: false }),
            ["sweep", "--dry-run"] => Ok(ControlRequest::Sweep { dry_run: true }),
            ["ping"] => Ok(ControlRequest::Ping),
            _ => Err(format!(
                "unknown request {:?} (expected `sweep`, `sweep --dry-run`, `purge PATH` or `ping`)",
                text.chars().take(64).collect::<String>()
            )),
        }
    }

    pub fn to_line(&self) -> String {
        match self {
            ControlRequest::Sweep { dry_run: false } => "sweep".into(),
            ControlRequest::Sweep { dry_run: true } => "sweep --dry-run".into(),
            ControlRequest::Purge { path } => format!("purge {path}"),
            ControlRequest::Ping => "ping".into(),
            ControlRequest::Record(command) => format!("record {}", command.to_words()),
        }
    }
}

/// Answers a request with one line (newlines in it are flattened).
pub type ControlHandler = Arc<dyn Fn(ControlRequest) -> BoxFuture<'static, String> + Send + Sync>;

/// Binds `path` (mode 0600: operator only) and answers requests with `handler`
/// on the current tokio runtime. Refuses to start if another process answers on
/// `path`; a stale socket file is replaced.
pub fn serve(path: &Path, handler: ControlHandler) -> io::Result<JoinHandle<()>> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another process answers on {}", path.display()),
        ));
    }
    remove_stale_socket(path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Bind under a temporary name and rename, so the socket is never reachable
    // with the umask's looser mode.
    let mut tmp_name = path.as_os_str().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp_name);
    remove_stale_socket(&tmp)?;
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, handler.clone()));
                }
                Err(e) => {
                    log::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// Removes `path` if it is a socket; refuses to touch anything else.
pub fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn answer(stream: UnixStream, handler: ControlHandler) {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES + 1));
    let reply = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line))
        .await
    {
        Err(_) => return,
        Ok(Err(e)) => {
            log::debug!("control request read failed: {e}");
            return;
        }
        Ok(Ok(_)) if line.len() as u64 > MAX_REQUEST_BYTES => "error: request too long".to_string(),
        Ok(Ok(_)) => {
            let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
            match ControlRequest::parse(trimmed) {
                Ok(request) => {
                    log::info!("control request: {}", request.to_line());
                    handler(request).await
                }
                Err(e) => format!("error: {e}"),
            }
        }
    };
    let mut reply = reply.replace(['\n', '\r'], " ");
    reply.push('\n');
    if let Err(e) = write.write_all(reply.as_bytes()).await {
        log::debug!("control answer write failed: {e}");
    }
    let _ = write.shutdown().await;
}

#[derive(Debug)]
pub enum ControlClientError {
    /// No socket file, or nobody accepting on it: no worker is running.
    NotListening,
    Io(io::Error),
    /// The worker closed the connection without an answer line.
    NoAnswer,
}

impl fmt::Display for ControlClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlClientError::NotListening => {
                write!(f, "no worker listens on the control socket")
            }
            ControlClientError::Io(e) => write!(f, "control socket: {e}"),
            ControlClientError::NoAnswer => write!(
                f,
                "the worker closed the control connection without answering"
            ),
        }
    }
}

impl std::error::Error for ControlClientError {}

/// Blocking client: sends `request`, returns the answer line (without newline).
pub fn request(
    path: &Path,
    request: ControlRequest,
    timeout: Duration,
) -> Result<String, ControlClientError> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ControlClientError::NotListening
        }
        _ => ControlClientError::Io(e),
    })?;
    let io_err = ControlClientError::Io;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    stream
        .write_all(format!("{}\n", request.to_line()).as_bytes())
        .map_err(io_err)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut answer)
        .map_err(io_err)?;
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    if line.is_empty() {
        return Err(ControlClientError::NoAnswer);
    }
    Ok(String::from_utf8_lossy(line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: [(&[u8], Result<ControlRequest, ()>); 9] = [
            (b"sweep", Ok(ControlRequest::Sweep { dry_run: false })),
            (
                b"sweep --dry-run",
                Ok(ControlRequest::Sweep { dry_run: true }),
            ),
            (
                b"  sweep   --dry-run \r",
                Ok(ControlRequest::Sweep { dry_run: true }),
            ),
            (b"ping", Ok(ControlRequest::Ping)),
            (b"", Err(())),
            (b"sweep now", Err(())),
            (b"SWEEP", Err(())),
            (b"\xff\xfe", Err(())),
            (b"rm -rf /", Err(())),
        ];
        for (line, expected) in cases {
            assert_eq!(
                ControlRequest::parse(line).map_err(|_| ()),
                expected,
                "{line:?}"
            );
        }
        for request in [
            ControlRequest::Ping,
            ControlRequest::Sweep { dry_run: true },
            ControlRequest::Sweep { dry_run: false },
        ] {
            assert_eq!(
                ControlRequest::parse(request.to_line().as_bytes()),
                Ok(request)
            );
        }
    }

    fn echo_handler() -> ControlHandler {
        Arc::new(|request| {
            Box::pin(async move { format!("got {}\nsecond line", request.to_line()) })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_over_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let missing = dir.path().join("nobody.sock");
        let not_listening = tokio::task::spawn_blocking(move || {
            request(&missing, ControlRequest::Ping, Duration::from_secs(1))
        })
        .await
        .unwrap();
        assert!(matches!(
            not_listening,
            Err(ControlClientError::NotListening)
        ));

        let server = serve(&path, echo_handler()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            serve(&path, echo_handler()).unwrap_err().kind(),
            io::ErrorKind::AddrInUse,
            "a second server must not steal a live socket"
        );

        let client_path = path.clone();
        let (answer, hostile) = tokio::task::spawn_blocking(move || {
            let answer = request(
                &client_path,
                ControlRequest::Sweep { dry_run: true },
                Duration::from_secs(5),
            )
            .unwrap();
            // Exactly one byte over the limit: read whole, so the answer arrives.
            let mut raw = std::os::unix::net::UnixStream::connect(&client_path).unwrap();
            raw.write_all(&[b'x'; MAX_REQUEST_BYTES as usize + 1])
                .unwrap();
            let mut hostile = String::new();
            raw.read_to_string(&mut hostile).unwrap();
            // Far over it: the server closes with bytes unread (a reset is fine) ...
            let mut flood = std::os::unix::net::UnixStream::connect(&client_path).unwrap();
            let _ = flood.write_all(&[b'x'; 100_000]);
            let _ = flood.read_to_end(&mut Vec::new());
            // ... and keeps serving.
            let pong = request(&client_path, ControlRequest::Ping, Duration::from_secs(5));
            assert_eq!(pong.unwrap(), "got ping second line");
            (answer, hostile)
        })
        .await
        .unwrap();
        assert_eq!(answer, "got sweep --dry-run second line");
        assert_eq!(hostile, "error: request too long\n");

        server.abort();
        let _ = server.await;
        // Nobody accepts now: the socket file is stale, which reads as not listening.
        let stale = tokio::task::spawn_blocking(move || {
            request(&path, ControlRequest::Ping, Duration::from_secs(1))
        })
        .await
        .unwrap();
        assert!(
            matches!(stale, Err(ControlClientError::NotListening)),
            "{stale:?}"
        );
    }
}
