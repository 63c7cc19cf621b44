//! `casterpak token --acl PATTERNS --window SECS [--start UNIX] [--key HEX] [--config FILE]`:
//! prints a token signed with the config's `token_auth.key` (or `--key`), for operators
//! and tests. Parsing is pure; `run` reads the config and the clock.

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenArgs {
    pub config: PathBuf,
    pub acl: String,
    pub window: u64,
    /// Unix seconds; none: now.
    pub start: Option<u64>,
    /// Hex key instead of the config's.
    pub key: Option<String>,
}

/// Parses the arguments after `token`.
pub fn parse(args: &[String]) -> Result<TokenArgs, String> {
    let mut parsed = TokenArgs {
        config: PathBuf::from(DEFAULT_CONFIG_PATH),
        acl: String::new(),
        window: 0,
        start: None,
        key: None,
    };
    let (mut acl, mut window) = (None, None);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        let seconds = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("`{name}` takes whole seconds, not `{text}`"))
        };
        match arg.as_str() {
            "--acl" => acl = Some(value("--acl")?),
            "--window" => window = Some(seconds("--window", value("--window")?)?),
            "--start" => parsed.start = Some(seconds("--start", value("--start")?)?),
            "--key" => parsed.key = Some(value("--key")?),
            "--config" | "-c" => parsed.config = PathBuf::from(value("--config")?),
            other => return Err(format!("unexpected argument `{other}` for `token`")),
        }
    }
    parsed.acl = acl
        .filter(|a| !a.is_empty() && !a.contains('~'))
        .ok_or("`token` needs `--acl PATTERN[!PATTERN…]` (no `~`)")?;
    parsed.window = window
        .filter(|w| *w > 0)
        .ok_or("`token` needs `--window SECONDS` (at least 1)")?;
    Ok(parsed)
}

/// Prints the token; returns the exit code.
pub fn run(args: &TokenArgs) -> i32 {
    let hex = match &args.key {
        Some(k) => k.clone(),
        None => match Config::load(&args.config) {
            Ok(c) => c.token_auth.key,
            Err(e) => {
                super::print_error(&e);
                return 1;
            }
        },
    };
    let Some(key) = crate::token::decode_hex(&hex).filter(|k| !k.is_empty()) else {
        eprintln!("casterpak: no hex key (set token_auth.key in the config, or --key HEX)");
        return 1;
    };
    let start = args.start.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    println!(
        "{}",
        crate::token::make(&key, &args.acl, start, args.window)
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_token_request() {
        assert_eq!(
            parse(&args(
                "--acl /i/* --window 60 --start 5 --key 00ff -c /f.toml"
            )),
            Ok(TokenArgs {
                config: PathBuf::from("/f.toml"),
                acl: "/i/*".into(),
                window: 60,
                start: Some(5),
                key: Some("00ff".into()),
            })
        );
    }

    #[test]
    fn rejects_bad_token_requests() {
        for line in [
            "",
            "--acl /i/*",
            "--window 60",
            "--acl /i/* --window 0",
            "--acl /i/* --window -1",
            "--acl /i/*~x --window 5",
            "--acl /i/* --window 5 --start soon",
            "--acl /i/* --window 5 --bogus",
        ] {
            assert!(parse(&args(line)).is_err(), "{line:?} should fail");
        }
    }
}
