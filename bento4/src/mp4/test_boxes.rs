//! Building boxes by hand for the parsers' unit tests.

/// A plain box: 32-bit size, fourcc, body.
pub(crate) fn boxed(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(fourcc);
    out.extend_from_slice(body);
    out
}
