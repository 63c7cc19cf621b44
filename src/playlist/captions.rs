//! Closed captions in a master (HLS 4.4.6.2, and Apple's rule that a variant without
//! them says `CLOSED-CAPTIONS=NONE`): CEA-608 carried in the video's SEI becomes an
//! `EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS` rendition per channel found. Pure.

use crate::tool::output::Cea608;
use std::fmt::Write;

/// The `GROUP-ID` of the captions renditions.
pub const GROUP_ID: &str = "cc";

/// The `CLOSED-CAPTIONS` value of each variant, from what its video carries (`None`:
/// not known, e.g. a remote source or real Bento4). `NONE` on every variant when all
/// are known to carry none (HLS allows `NONE` only on all of them); the group on those
/// that carry CEA-608 when any does; otherwise nothing.
pub fn values(known: &[Option<Cea608>]) -> Vec<Option<String>> {
    let none_anywhere = known
        .iter()
        .all(|k| k.is_some_and(|c| !c.field1 && !c.field2));
    known
        .iter()
        .map(|k| match k {
            _ if none_anywhere => Some("NONE".to_string()),
            Some(c) if c.field1 || c.field2 => Some(GROUP_ID.to_string()),
            _ => None,
        })
        .collect()
}

/// Sets each variant's `CLOSED-CAPTIONS` from what its video carries ([`values`]);
/// returns the fields any of them carries, for [`with_renditions`].
pub fn apply(variants: &mut [crate::playlist::Variant], known: &[Option<Cea608>]) -> Cea608 {
    for (v, value) in variants.iter_mut().zip(values(known)) {
        v.closed_captions = value;
    }
    Cea608 {
        field1: known.iter().flatten().any(|c| c.field1),
        field2: known.iter().flatten().any(|c| c.field2),
    }
}

/// `master` with one `EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS` per field carried (CC1 for
/// field 1, CC3 for field 2) after its header; unchanged when none is.
pub fn with_renditions(master: &str, carried: Cea608) -> String {
    let mut lines = String::new();
    for (present, channel) in [(carried.field1, "CC1"), (carried.field2, "CC3")] {
        if present {
            let _ = writeln!(
                lines,
                "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"{GROUP_ID}\",NAME=\"{channel}\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"{channel}\""
            );
        }
    }
    if lines.is_empty() {
        return master.to_string();
    }
    match master.split_once('\n') {
        Some((header, rest)) => format!("{header}\n{lines}{rest}"),
        None => format!("{master}\n{lines}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Option<Cea608> = Some(Cea608 {
        field1: false,
        field2: false,
    });
    const CC1: Option<Cea608> = Some(Cea608 {
        field1: true,
        field2: false,
    });

    #[test]
    fn none_only_when_every_variant_is_known_to_have_none() {
        let strings = |v: Vec<Option<String>>| {
            v.into_iter()
                .map(|s| s.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(strings(values(&[NONE, NONE])), ["NONE", "NONE"]);
        assert_eq!(
            strings(values(&[NONE, None])),
            ["", ""],
            "unknown: say nothing"
        );
        assert_eq!(strings(values(&[CC1, NONE, None])), ["cc", "", ""]);
        assert!(values(&[]).is_empty());
    }

    #[test]
    fn one_rendition_per_field() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CLOSED-CAPTIONS=\"cc\"\na.m3u8\n";
        let both = with_renditions(
            master,
            Cea608 {
                field1: true,
                field2: true,
            },
        );
        assert!(both.starts_with(
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n\
             #EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC3\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC3\"\n#EXT-X-STREAM-INF"
        ), "{both}");
        assert_eq!(with_renditions(master, Cea608::default()), master);
    }
}
