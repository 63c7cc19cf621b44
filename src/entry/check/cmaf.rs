//! Whether a CMAF file or an MPD we published is whole: an `.m4s`/`.mp4`/`.m4a` is ISO BMFF
//! boxes that end exactly at the file's end (a tail of zeros reads as a box of size
//! 0, which we never write); an `.mpd` is XML that ends in `</MPD>` and a newline.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Boxes at the top of a file: at most this many headers are read.
const MAX_BOXES: usize = 64;

pub fn boxes_damage(file: &File) -> io::Result<Option<&'static str>> {
    let len = file.metadata()?.len();
    let mut at = 0u64;
    for _ in 0..MAX_BOXES {
        if at == len {
            return Ok((len == 0).then_some("empty"));
        }
        let mut header = [0u8; 8];
        if len - at < 8 {
            return Ok(Some("a box cut short"));
        }
        file.read_exact_at(&mut header, at)?;
        let size = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        if size < 8 || size > len - at {
            return Ok(Some("a box cut short"));
        }
        at += size;
    }
    Ok(Some("too many boxes"))
}

pub fn mpd_damage(bytes: &[u8]) -> Option<&'static str> {
    let whole = bytes.starts_with(b"<?xml") && bytes.ends_with(b"</MPD>\n") && !bytes.contains(&0);
    (!whole).then_some("not a whole MPD")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn verdict(bytes: &[u8]) -> Option<&'static str> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        boxes_damage(&file).unwrap()
    }

    #[test]
    fn boxes_must_end_at_the_end() {
        let whole = [&[0, 0, 0, 8][..], b"styp", &[0, 0, 0, 9], b"mdat", &[7]].concat();
        assert_eq!(verdict(&whole), None);
        assert!(verdict(&whole[..whole.len() - 1]).is_some());
        assert!(verdict(&[whole.as_slice(), &[0; 16]].concat()).is_some());
        assert!(verdict(&[]).is_some());
        assert_eq!(
            mpd_damage(b"<?xml version=\"1.0\"?>\n<MPD>\n</MPD>\n"),
            None
        );
        assert!(mpd_damage(b"<?xml version=\"1.0\"?>\n<MPD>\n").is_some());
    }
}
