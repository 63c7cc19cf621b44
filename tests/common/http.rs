//! A minimal HTTP/1.0 client over `TcpStream`: the request line goes out byte for byte
//! (hostile paths must reach nginx unnormalised, which curl would not do), and HTTP/1.0
//! means the body is whatever comes before the server closes (no chunked decoding).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The only value of header `name`; panics when it is absent or repeated.
    pub fn header(&self, name: &str) -> &str {
        let values = self.headers_named(name);
        assert_eq!(values.len(), 1, "header {name} in {:?}", self.headers);
        values[0]
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with extra header lines to 127.0.0.1:`port`.
pub fn request(port: u16, method: &str, path: &[u8], extra_headers: &[&str]) -> Response {
    try_request(port, method, path, extra_headers)
        .unwrap_or_else(|e| panic!("{method} {} failed: {e}", String::from_utf8_lossy(path)))
}

pub fn try_request(
    port: u16,
    method: &str,
    path: &[u8],
    extra_headers: &[&str],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = Vec::new();
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(path);
    head.extend_from_slice(format!(" HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n").as_bytes());
    for h in extra_headers {
        head.extend_from_slice(h.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad HTTP answer: {:?}", String::from_utf8_lossy(&raw)),
        )
    })
}

fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let body = raw.get(split + 4..)?.to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Resolves a playlist URI against the path of the playlist that holds it (RFC 3986
/// reference resolution, for the forms playlists use: absolute URL, absolute path,
/// relative path with `..`). Returns a path on the same server.
pub fn resolve(base_path: &str, reference: &str) -> String {
    if let Some(rest) = reference
        .strip_prefix("http://")
        .or_else(|| reference.strip_prefix("https://"))
    {
        return rest.find('/').map_or("/".into(), |i| rest[i..].to_string());
    }
    if reference.starts_with('/') {
        return reference.to_string();
    }
    let mut parts: Vec<&str> = base_path.split('/').collect();
    parts.pop(); // the playlist's own file name
    for seg in reference.split('/') {
        match seg {
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            "." => {}
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[test]
fn resolve_handles_playlist_uri_forms() {
    let base = "/i/clip_,low,medium,.mp4.csmil/master.m3u8";
    let cases = [
        (
            "../clip_low.mp4/index_0_av.m3u8",
            "/i/clip_low.mp4/index_0_av.m3u8",
        ),
        (
            "index_1_av.m3u8",
            "/i/clip_,low,medium,.mp4.csmil/index_1_av.m3u8",
        ),
        ("/i/x.mp4/index_0_av.m3u8", "/i/x.mp4/index_0_av.m3u8"),
        ("http://h:1/i/y.mp4/a.m3u8", "/i/y.mp4/a.m3u8"),
    ];
    for (reference, expected) in cases {
        assert_eq!(resolve(base, reference), expected, "{reference}");
    }
}

#[test]
fn parse_reads_status_headers_and_body() {
    let r = parse(b"HTTP/1.1 206 Partial\r\nA: 1\r\nb:  two \r\n\r\nxyz").expect("parses");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("a"), "1");
    assert_eq!(r.header("B"), "two");
    assert_eq!(r.body, b"xyz");
    assert!(parse(b"HTTP/1.1 200 OK\r\n").is_none());
}
