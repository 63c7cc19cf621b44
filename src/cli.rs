//! Command line: `main` → parse → one mode → exit code. Parsing is pure and tested.

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use std::path::{Path, PathBuf};

mod record;
mod token;

const USAGE: &str = "\
casterpak — caching HLS packaging origin (nginx serves the cache, this worker fills it)

USAGE:
    casterpak serve [--config FILE]
    casterpak --sweep [--dry-run] [--config FILE]     (also: casterpak sweep [--dry-run])
    casterpak check-config [--config FILE]
    casterpak nginx-conf [--config FILE] [--standalone --listen 127.0.0.1:PORT --prefix DIR]
    casterpak purge PATH|PREFIX [--config FILE]       (PREFIX: ends in '/' or '*')
    casterpak record start STREAM [--from UNIX|-SECS] | stop ID | list | delete ID [--config FILE]
    casterpak record store ID --to PREFIX [--key PATH.mp4] [--config FILE]
    casterpak token --acl PATTERN[!PATTERN…] --window SECS [--start UNIX] [--key HEX] [--config FILE]
    casterpak --help | --version

OPTIONS:
    --config FILE   configuration file (default /etc/casterpak/casterpak.toml)
    --dry-run       sweep: print what would be evicted, change nothing
    --standalone    nginx-conf: a whole nginx.conf runnable unprivileged under --prefix
    --acl, --window token: an hdnts token over these ACL patterns (`*` wildcards), valid
                    for SECS from --start (default now), signed with token_auth.key
    --to, --key     record store: remux a stopped recording into MP4 with ffmpeg
                    (live.ffmpeg) and upload it to the kind = \"s3\" source PREFIX as
                    PATH.mp4 (default recordings/ID.mp4; several renditions are
                    PATH_0.mp4, PATH_1.mp4, ...); prints the URL path it plays at

Logging: RUST_LOG (default info).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve {
        config: PathBuf,
    },
    Sweep {
        config: PathBuf,
        dry_run: bool,
    },
    CheckConfig {
        config: PathBuf,
    },
    NginxConf {
        config: PathBuf,
        standalone: Option<Standalone>,
    },
    Token(token::TokenArgs),
    Purge {
        config: PathBuf,
        path: String,
    },
    Record {
        config: PathBuf,
        command: crate::live::record::Command,
    },
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Standalone {
    pub listen: String,
    pub prefix: PathBuf,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    if let Some((first, rest)) = args.split_first() {
        if first == "token" && !rest.iter().any(|a| a == "--help" || a == "-h") {
            return token::parse(rest).map(Command::Token);
        }
        if first == "purge" {
            return parse_purge(rest);
        }
        if first == "record" && !rest.iter().any(|a| a == "--help" || a == "-h") {
            return record::parse(rest)
                .map(|(config, command)| Command::Record { config, command });
        }
    }
    let mut mode: Option<&str> = None;
    let mut config = PathBuf::from(DEFAULT_CONFIG_PATH);
    let mut dry_run = false;
    let mut standalone = false;
    let mut listen = None;
    let mut prefix = None;
    let mut iter = args.iter();
    let set_mode = |m: &'static str, mode: &mut Option<&str>| match mode {
        Some(old) if *old != m => Err(format!("`{old}` and `{m}` cannot be combined")),
        _ => {
            *mode = Some(m);
            Ok(())
        }
    };
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" | "help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "serve" => set_mode("serve", &mut mode)?,
            "--sweep" | "sweep" => set_mode("sweep", &mut mode)?,
            "check-config" => set_mode("check-config", &mut mode)?,
            "nginx-conf" => set_mode("nginx-conf", &mut mode)?,
            "--config" | "-c" => config = PathBuf::from(value("--config")?),
            "--dry-run" => dry_run = true,
            "--standalone" => standalone = true,
            "--listen" => listen = Some(value("--listen")?),
            "--prefix" => prefix = Some(PathBuf::from(value("--prefix")?)),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if dry_run && mode != Some("sweep") {
        return Err("`--dry-run` only goes with `--sweep`".into());
    }
    if (standalone || listen.is_some() || prefix.is_some()) && mode != Some("nginx-conf") {
        return Err("`--standalone`, `--listen`, `--prefix` only go with `nginx-conf`".into());
    }
    match mode {
        Some("serve") => Ok(Command::Serve { config }),
        Some("sweep") => Ok(Command::Sweep { config, dry_run }),
        Some("check-config") => Ok(Command::CheckConfig { config }),
        Some("nginx-conf") => {
            let standalone = match (standalone, listen, prefix) {
                (false, None, None) => None,
                (true, Some(listen), Some(prefix)) => Some(Standalone { listen, prefix }),
                _ => {
                    return Err(
                        "`--standalone` needs both `--listen ADDR:PORT` and `--prefix DIR`".into(),
                    )
                }
            };
            Ok(Command::NginxConf { config, standalone })
        }
        _ => Err("no command given".into()),
    }
}

/// `purge PATH [--config FILE]`: the path is the one argument not an option.
fn parse_purge(args: &[String]) -> Result<Command, String> {
    let mut config = PathBuf::from(DEFAULT_CONFIG_PATH);
    let mut path = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                config = PathBuf::from(iter.next().ok_or("`--config` needs a value")?)
            }
            p if p.starts_with('/') && path.is_none() => path = Some(p.to_string()),
            other => return Err(format!("unexpected argument `{other}` for `purge`")),
        }
    }
    let path = path.ok_or("`purge` needs a URL path or prefix, e.g. /i/title.mp4")?;
    Ok(Command::Purge { config, path })
}

/// Prints an error with its whole chain of causes.
pub fn print_error(err: &dyn std::error::Error) {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    eprintln!("casterpak: {text}");
}

fn load(path: &Path) -> Option<Config> {
    match Config::load(path) {
        Ok(c) => Some(c),
        Err(e) => {
            print_error(&e);
            None
        }
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("casterpak: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            0
        }
        Command::Version => {
            println!("casterpak {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Token(args) => token::run(&args),
        Command::Purge { config, path } => match load(&config) {
            Some(cfg) => crate::purge::run_cli(&cfg, &path),
            None => 1,
        },
        Command::Record { config, command } => match load(&config) {
            Some(cfg) => record::run(&cfg, command),
            None => 1,
        },
        Command::CheckConfig { config } => match load(&config) {
            Some(cfg) => {
                for warning in nginx_side_missing(&cfg) {
                    eprintln!("check-config: warning: {warning}");
                }
                println!("config OK: {}", config.display());
                0
            }
            None => 1,
        },
        Command::Serve { config } => match load(&config) {
            Some(cfg) => crate::server::run(cfg),
            None => 1,
        },
        Command::Sweep { config, dry_run } => match load(&config) {
            Some(cfg) => crate::sweep::run_cli(&cfg, dry_run),
            None => 1,
        },
        Command::NginxConf { config, standalone } => match load(&config) {
            Some(cfg) => {
                for warning in nginx_side_missing(&cfg) {
                    eprintln!("nginx-conf: warning: {warning}");
                }
                match standalone {
                    None => print!("{}", crate::nginx_conf::server_block(&cfg)),
                    Some(s) => print!(
                        "{}",
                        crate::nginx_conf::standalone(&cfg, &s.listen, &s.prefix)
                    ),
                }
                0
            }
            None => 1,
        },
    }
}

/// What nginx will need on this machine for `cfg` and cannot find: the worker runs
/// without it, so these are warnings, but nginx would refuse to start.
fn nginx_side_missing(cfg: &Config) -> Vec<String> {
    let mut missing = Vec::new();
    if cfg.token_auth.enabled() {
        if !cfg.token_auth.script.is_file() {
            missing.push(format!(
                "token_auth.script {} is not a file: nginx cannot load the token check \
                 (the package installs it; from a checkout, point it at nginx/casterpak-token.lua)",
                cfg.token_auth.script.display()
            ));
        }
        for module in crate::nginx_conf::LUA_MODULES {
            if !Path::new(module).is_file() {
                missing.push(format!(
                    "{module} is missing: nginx checks tokens with its Lua module \
                     (apt-get install libnginx-mod-http-lua)"
                ));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_every_mode() {
        let def = || PathBuf::from(DEFAULT_CONFIG_PATH);
        let f = || PathBuf::from("/f.toml");
        let cases: Vec<(&str, Command)> = vec![
            ("serve", Command::Serve { config: def() }),
            ("serve --config /f.toml", Command::Serve { config: f() }),
            ("--config /f.toml serve", Command::Serve { config: f() }),
            (
                "--sweep --config /f.toml",
                Command::Sweep {
                    config: f(),
                    dry_run: false,
                },
            ),
            (
                "--sweep --dry-run",
                Command::Sweep {
                    config: def(),
                    dry_run: true,
                },
            ),
            (
                "sweep --dry-run -c /f.toml",
                Command::Sweep {
                    config: f(),
                    dry_run: true,
                },
            ),
            (
                "check-config --config /f.toml",
                Command::CheckConfig { config: f() },
            ),
            (
                "nginx-conf",
                Command::NginxConf {
                    config: def(),
                    standalone: None,
                },
            ),
            (
                "nginx-conf --standalone --listen 127.0.0.1:8080 --prefix /tmp/n",
                Command::NginxConf {
                    config: def(),
                    standalone: Some(Standalone {
                        listen: "127.0.0.1:8080".into(),
                        prefix: PathBuf::from("/tmp/n"),
                    }),
                },
            ),
            ("--help", Command::Help),
            ("serve --help", Command::Help),
            ("--version", Command::Version),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(&args(line)), Ok(expected), "{line}");
        }
    }

    #[test]
    fn rejects_bad_command_lines() {
        for line in [
            "",
            "serve --config",
            "serve sweep",
            "serve --dry-run",
            "serve --bogus",
            "nginx-conf --standalone",
            "nginx-conf --listen 1.2.3.4:5",
            "check-config --standalone",
        ] {
            assert!(parse(&args(line)).is_err(), "{line:?} should fail");
        }
    }

    #[test]
    fn a_missing_token_script_is_named() {
        let mut cfg = Config::default();
        assert!(nginx_side_missing(&cfg).is_empty());
        cfg.token_auth.key = "00112233445566778899aabbccddeeff".into();
        cfg.token_auth.protect = vec!["/i/".into()];
        cfg.token_auth.script = PathBuf::from("/nonexistent/casterpak-token.lua");
        let missing = nginx_side_missing(&cfg);
        assert!(
            missing
                .iter()
                .any(|m| m.contains("/nonexistent/casterpak-token.lua")),
            "{missing:?}"
        );
        cfg.token_auth.script = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/nginx/casterpak-token.lua"
        ));
        assert!(
            !nginx_side_missing(&cfg)
                .iter()
                .any(|m| m.contains("token_auth.script")),
            "the repository's script is a file"
        );
    }
}
