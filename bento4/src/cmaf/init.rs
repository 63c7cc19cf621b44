//! The init segment: `ftyp`, then a `moov` describing one track with no samples
//! (`stts`/`stsc`/`stsz`/`stco` empty) and `mvex`/`trex` announcing fragments.

use super::boxes::{boxed, full, u16_be, u32_be, unity_matrix, zeros};
use super::entry::{sample_entry, EntryError};
use super::protect::{self, Cbcs};
use super::{track, CmafTrack};
use crate::media::Track;
use crate::plan::Plan;

/// Every CMAF file carries its one track as track 1.
pub const TRACK_ID: u32 = 1;

/// The init segment for the plan's track of that kind; with `protection`, its sample
/// entry is the `cbcs`-protected form and the `moov` carries a Common `pssh`.
pub fn init_segment(
    plan: &Plan,
    kind: CmafTrack,
    protection: Option<&Cbcs>,
) -> Result<Vec<u8>, EntryError> {
    let (track, _) = track(plan, kind)
        .ok_or_else(|| EntryError(format!("no {} track to package", kind.name())))?;
    let mut stsd = Vec::new();
    sample_entry(&mut stsd, track)?;
    if let Some(cbcs) = protection {
        stsd = protect::protected_entry(&stsd, kind == CmafTrack::Video, cbcs);
    }
    let mut out = Vec::new();
    boxed(&mut out, b"ftyp", |out| {
        out.extend_from_slice(b"iso6");
        u32_be(out, 0);
        for brand in [b"iso6", b"cmfc", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |out| {
        mvhd(out, track.timescale);
        boxed(out, b"trak", |out| trak(out, track, kind, &stsd));
        boxed(out, b"mvex", |out| {
            full(out, b"trex", 0, 0, |out| {
                for value in [TRACK_ID, 1, 0, 0, 0] {
                    u32_be(out, value);
                }
            })
        });
        if let Some(cbcs) = protection {
            protect::pssh(out, &cbcs.kid);
        }
    });
    Ok(out)
}

fn mvhd(out: &mut Vec<u8>, timescale: u32) {
    full(out, b"mvhd", 0, 0, |out| {
        u32_be(out, 0); // creation: fixed, so the bytes are deterministic
        u32_be(out, 0);
        u32_be(out, timescale);
        u32_be(out, 0); // duration: fragments say it
        u32_be(out, 0x0001_0000);
        u16_be(out, 0x0100);
        zeros(out, 10);
        unity_matrix(out);
        zeros(out, 24);
        u32_be(out, TRACK_ID + 1);
    });
}

fn trak(out: &mut Vec<u8>, track: &Track, kind: CmafTrack, stsd: &[u8]) {
    let video = kind == CmafTrack::Video;
    full(out, b"tkhd", 0, 3, |out| {
        zeros(out, 8);
        u32_be(out, TRACK_ID);
        zeros(out, 4);
        u32_be(out, 0);
        zeros(out, 8);
        u16_be(out, 0); // layer
        u16_be(out, 0); // alternate group
        u16_be(out, if video { 0 } else { 0x0100 });
        zeros(out, 2);
        unity_matrix(out);
        let fixed = |v: f64| (v.clamp(0.0, 65535.0) * 65536.0) as u32;
        u32_be(out, if video { fixed(track.display_width) } else { 0 });
        u32_be(
            out,
            if video {
                fixed(track.display_height)
            } else {
                0
            },
        );
    });
    boxed(out, b"mdia", |out| {
        full(out, b"mdhd", 0, 0, |out| {
            zeros(out, 8);
            u32_be(out, track.timescale);
            u32_be(out, 0);
            u16_be(out, packed_language(&track.language));
            u16_be(out, 0);
        });
        full(out, b"hdlr", 0, 0, |out| {
            u32_be(out, 0);
            out.extend_from_slice(if video { b"vide" } else { b"soun" });
            zeros(out, 12);
            out.extend_from_slice(if video {
                b"VideoHandler\0"
            } else {
                b"SoundHandler\0"
            });
        });
        boxed(out, b"minf", |out| {
            if video {
                full(out, b"vmhd", 0, 1, |out| zeros(out, 8));
            } else {
                full(out, b"smhd", 0, 0, |out| zeros(out, 4));
            }
            boxed(out, b"dinf", |out| {
                full(out, b"dref", 0, 0, |out| {
                    u32_be(out, 1);
                    full(out, b"url ", 0, 1, |_| {});
                })
            });
            boxed(out, b"stbl", |out| {
                full(out, b"stsd", 0, 0, |out| {
                    u32_be(out, 1);
                    out.extend_from_slice(stsd);
                });
                full(out, b"stts", 0, 0, |out| u32_be(out, 0));
                full(out, b"stsc", 0, 0, |out| u32_be(out, 0));
                full(out, b"stsz", 0, 0, |out| {
                    u32_be(out, 0);
                    u32_be(out, 0);
                });
                full(out, b"stco", 0, 0, |out| u32_be(out, 0));
            });
        });
    });
}

/// ISO-639-2/T as three 5-bit letters; anything else is "und".
fn packed_language(code: &str) -> u16 {
    let bytes = code.as_bytes();
    let letters = if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_lowercase) {
        bytes
    } else {
        b"und"
    };
    letters
        .iter()
        .fold(0u16, |acc, &b| (acc << 5) | u16::from(b - 0x60))
}
