//! SCGI request headers (pure): `<len>:<name>\0<value>\0…,` then the body.
//!
//! Our own small parser rather than tokio-scgi's, because nginx may send header
//! values that are not UTF-8 (`DOCUMENT_URI` is decoded) and tokio-scgi turns
//! those into an I/O error; we keep bytes and decode only what we use.

/// Largest header netstring accepted (nginx sends a few hundred bytes).
pub const MAX_HEADER_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScgiError {
    /// The length prefix is not digits + ':' or is absurd.
    BadLength,
    TooLarge,
    /// The netstring does not end with ','.
    MissingComma,
    /// Header bytes are not NUL-terminated name/value pairs.
    BadHeaders,
}

/// Parsed header pairs, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Headers {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// A header as text, lossy (for logging ids).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Parses the header netstring at the start of `buf`. `Ok(None)`: need more bytes.
/// On success returns the headers and how many bytes they took.
pub fn parse(buf: &[u8]) -> Result<Option<(Headers, usize)>, ScgiError> {
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    // "65536" has 5 digits: more than 6 can only be too large or garbage.
    if digits > 6 {
        return Err(ScgiError::TooLarge);
    }
    match buf.get(digits) {
        None => return Ok(None),
        Some(b':') if digits > 0 => {}
        Some(_) => return Err(ScgiError::BadLength),
    }
    let len: usize = std::str::from_utf8(buf.get(..digits).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ScgiError::BadLength)?;
    if len > MAX_HEADER_BYTES {
        return Err(ScgiError::TooLarge);
    }
    let start = digits + 1;
    let end = start + len;
    let (Some(block), Some(&comma)) = (buf.get(start..end), buf.get(end)) else {
        return Ok(None);
    };
    if comma != b',' {
        return Err(ScgiError::MissingComma);
    }
    let headers = parse_block(block)?;
    Ok(Some((headers, end + 1)))
}

fn parse_block(block: &[u8]) -> Result<Headers, ScgiError> {
    let Some(body) = block.strip_suffix(b"\0") else {
        return Err(ScgiError::BadHeaders);
    };
    let fields: Vec<&[u8]> = body.split(|&b| b == 0).collect();
    if !fields.len().is_multiple_of(2) {
        return Err(ScgiError::BadHeaders);
    }
    let mut pairs = Vec::with_capacity(fields.len() / 2);
    for pair in fields.chunks_exact(2) {
        let (name, value) = match pair {
            [n, v] => (n, v),
            _ => return Err(ScgiError::BadHeaders),
        };
        if name.is_empty() {
            return Err(ScgiError::BadHeaders);
        }
        pairs.push((name.to_vec(), value.to_vec()));
    }
    Ok(Headers { pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netstring(block: &[u8]) -> Vec<u8> {
        let mut out = format!("{}:", block.len()).into_bytes();
        out.extend_from_slice(block);
        out.push(b',');
        out
    }

    #[test]
    fn parses_nginx_style_request() {
        let block = b"CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_URI\x00/i/a%20b.mp4/master.m3u8?x\x00DOCUMENT_URI\x00/i/a\xff.mp4\x00EMPTY\x00\x00";
        let mut buf = netstring(block);
        buf.extend_from_slice(b"BODY");
        let (headers, used) = parse(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len() - 4);
        assert_eq!(
            headers.get("REQUEST_URI"),
            Some(&b"/i/a%20b.mp4/master.m3u8?x"[..])
        );
        assert_eq!(headers.get("DOCUMENT_URI"), Some(&b"/i/a\xff.mp4"[..]));
        assert_eq!(headers.get("EMPTY"), Some(&b""[..]));
        assert_eq!(headers.get("MISSING"), None);
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        let full = netstring(b"A\x00b\x00");
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(&full).unwrap().is_some());
    }

    #[test]
    fn malformed_input_is_refused() {
        let cases: Vec<(Vec<u8>, ScgiError)> = vec![
            (b":abc,".to_vec(), ScgiError::BadLength),
            (b"x:abc,".to_vec(), ScgiError::BadLength),
            (b"-1:a,".to_vec(), ScgiError::BadLength),
            (b"12345678:".to_vec(), ScgiError::TooLarge),
            (b"65537:".to_vec(), ScgiError::TooLarge),
            (b"4:A\x00b\x00;".to_vec(), ScgiError::MissingComma),
            (b"3:A\x00b,".to_vec(), ScgiError::BadHeaders),
            (b"2:A\x00,".to_vec(), ScgiError::BadHeaders),
            (b"3:\x00b\x00,".to_vec(), ScgiError::BadHeaders),
            (b"0:,".to_vec(), ScgiError::BadHeaders),
        ];
        for (buf, expected) in cases {
            assert_eq!(
                parse(&buf),
                Err(expected),
                "{}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
}
