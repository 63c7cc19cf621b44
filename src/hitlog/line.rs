//! Parsing the lines of nginx's hit log. Pure code: no I/O.
//!
//! nginx appends one line per cache hit, with
//! `log_format casterpak_hits '$status $request_uri';`:
//! `200 /i/a/b.mp4/segment3_0_av.ts`.
//! nginx escapes `"`, `\`, control and non-ASCII bytes in log variables as `\xHH`,
//! so the URI is unescaped back to the bytes of the request line.

use std::fmt;

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub status: u16,
    /// The raw request path (percent-encoding kept, query string removed).
    pub uri: Vec<u8>,
}

impl Hit {
    /// Only answers served from the cache count as accesses.
    pub fn counts_as_access(&self) -> bool {
        (200..300).contains(&self.status) || self.status == 304
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    BadStatus,
    BadUri,
    BadEscape,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::BadStatus => "line does not start with a 3-digit status",
            ParseError::BadUri => "request URI missing or not starting with '/'",
            ParseError::BadEscape => "malformed \\xHH escape in the URI",
        })
    }
}

impl std::error::Error for ParseError {}

/// Parses one line (its `\n` may be present or not).
pub fn parse(line: &[u8]) -> Result<Hit, ParseError> {
    let message = trim_line_end(line);
    let (status, rest) = match message {
        [a, b, c, b' ', rest @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            (status, rest)
        }
        _ => return Err(ParseError::BadStatus),
    };
    if rest.first() != Some(&b'/') || rest.contains(&b' ') {
        return Err(ParseError::BadUri);
    }
    let mut uri = unescape(rest)?;
    if let Some(query) = uri.iter().position(|&b| b == b'?') {
        uri.truncate(query);
    }
    Ok(Hit { status, uri })
}

fn trim_line_end(mut s: &[u8]) -> &[u8] {
    while let [head @ .., b'\n' | b'\r'] = s {
        s = head;
    }
    s
}

fn unescape(s: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' {
            match tail {
                [b'x', hi, lo, after @ ..] => {
                    out.push(hex(*hi)? << 4 | hex(*lo)?);
                    rest = after;
                }
                _ => return Err(ParseError::BadEscape),
            }
        } else {
            out.push(b);
            rest = tail;
        }
    }
    Ok(out)
}

fn hex(b: u8) -> Result<u8, ParseError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(ParseError::BadEscape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(status: u16, uri: &[u8]) -> Result<Hit, ParseError> {
        Ok(Hit {
            status,
            uri: uri.to_vec(),
        })
    }

    #[test]
    fn table() {
        let huge = {
            let mut d = b"200 /".to_vec();
            d.extend(std::iter::repeat_n(b'a', 1 << 20));
            d
        };
        let mut huge_uri = b"/".to_vec();
        huge_uri.extend(std::iter::repeat_n(b'a', 1 << 20));
        let cases: Vec<(&str, &[u8], Result<Hit, ParseError>)> = vec![
            (
                "segment hit",
                b"200 /i/a/b.mp4/segment3_0_av.ts",
                hit(200, b"/i/a/b.mp4/segment3_0_av.ts"),
            ),
            (
                "trailing newline",
                b"206 /i/x.mp4/index_0_av.m3u8\n",
                hit(206, b"/i/x.mp4/index_0_av.m3u8"),
            ),
            (
                "query removed, percent-encoding kept",
                b"304 /i/a%20b.mp4/master.m3u8?token=1",
                hit(304, b"/i/a%20b.mp4/master.m3u8"),
            ),
            (
                "nginx escapes of non-ASCII",
                b"200 /i/\\xC3\\xBC.mp4/segment1_0_av.ts",
                hit(200, "/i/\u{fc}.mp4/segment1_0_av.ts".as_bytes()),
            ),
            (
                "captured from nginx 1.22: escaped backslash and quote",
                b"404 /i/%C3%BC/\\x5Cxc3\\x22q",
                hit(404, b"/i/%C3%BC/\\xc3\"q"),
            ),
            ("not found is parsed", b"404 /i/x", hit(404, b"/i/x")),
            ("huge", &huge, hit(200, &huge_uri)),
            ("empty", b"", Err(ParseError::BadStatus)),
            ("only a newline", b"\n", Err(ParseError::BadStatus)),
            ("garbage", b"hello world", Err(ParseError::BadStatus)),
            (
                "a syslog line is not a file log line",
                b"<190>Nov 21 04:40:01 casterpak: 200 /i/a.mp4",
                Err(ParseError::BadStatus),
            ),
            ("status letters", b"2O0 /i", Err(ParseError::BadStatus)),
            ("status without uri", b"200", Err(ParseError::BadStatus)),
            ("four-digit status", b"2000 /i", Err(ParseError::BadStatus)),
            ("relative uri", b"200 i/a.mp4", Err(ParseError::BadUri)),
            ("empty uri", b"200 ", Err(ParseError::BadUri)),
            (
                "extra field",
                b"200 /i/a.mp4 extra",
                Err(ParseError::BadUri),
            ),
            ("bad escape", b"200 /i/\\xZZ", Err(ParseError::BadEscape)),
            ("cut escape", b"200 /i/\\x4", Err(ParseError::BadEscape)),
            (
                "raw non-UTF-8",
                b"200 /i/\xff\xfe.mp4",
                hit(200, b"/i/\xff\xfe.mp4"),
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(parse(input), expected, "{name}");
        }
    }

    #[test]
    fn which_statuses_are_accesses() {
        for (status, counts) in [
            (200, true),
            (206, true),
            (304, true),
            (301, false),
            (404, false),
            (500, false),
            (199, false),
        ] {
            let h = Hit {
                status,
                uri: b"/".to_vec(),
            };
            assert_eq!(h.counts_as_access(), counts, "{status}");
        }
    }
}
