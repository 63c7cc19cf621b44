//! The public locations of the CMAF HLS and DASH prefixes: each is the TS prefix's
//! location with its own prefix (same cache root, try_files, CORS, hit log), so
//! whatever the TS location does, they do too.

use crate::config::Config;

/// Inserts, after the TS prefix's public location in `out`, one copy per prefix of
/// `[formats]`. Leaves `out` as it is when that location is not there.
pub fn add_locations(config: &Config, out: &mut String) {
    let opening = format!("    location ^~ {}/ {{\n", config.url_prefix);
    let Some(start) = out.find(&opening) else {
        return;
    };
    let Some(length) = out[start..].find("\n    }\n") else {
        return;
    };
    let end = start + length + "\n    }\n".len();
    let block = out[start..end].to_string();
    let mut added = String::new();
    for (what, prefix) in [
        ("CMAF (fMP4) HLS", &config.formats.cmaf_prefix),
        (
            "DASH (its segments are the CMAF files)",
            &config.formats.dash_prefix,
        ),
    ] {
        added.push_str(&format!("\n    # {what}: hits and misses as above.\n"));
        added.push_str(&block.replacen(&opening, &format!("    location ^~ {prefix}/ {{\n"), 1));
    }
    out.insert_str(end, &added);
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn every_prefix_gets_the_ts_location() {
        let text = crate::nginx_conf::server_block(&Config::default());
        for prefix in ["/i", "/c", "/d"] {
            let opening = format!("    location ^~ {prefix}/ {{\n");
            assert_eq!(text.matches(&opening).count(), 1, "{prefix}");
            let at = text.find(&opening).unwrap();
            let block = &text[at..at + text[at..].find("\n    }\n").unwrap()];
            assert!(
                block.contains("try_files $casterpak_file @casterpak;"),
                "{prefix}"
            );
            assert!(block.contains("casterpak_hits"), "{prefix}");
        }
        assert!(text.contains("application/dash+xml mpd;"));
        assert!(text.contains("~\\.m4s$ \"public, max-age=31536000, immutable\";"));
    }
}
