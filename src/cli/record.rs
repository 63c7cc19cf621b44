//! `casterpak record start STREAM [--from UNIX|-SECS] | stop ID | list | delete ID |
//! store ID --to PREFIX [--key PATH.mp4]`: asked of the running worker over the
//! control socket (recordings follow live segments as they arrive, which only the
//! worker sees; a store uses its S3 sources and scratch dir).

use crate::config::Config;
use crate::control::{self, ControlRequest};
use crate::live::record::Command;
use std::path::PathBuf;
use std::time::Duration;

/// A stop links the last segments and writes two playlists: quick.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The arguments after `record`: the command and the config file.
pub fn parse(args: &[String]) -> Result<(PathBuf, Command), String> {
    let mut config = PathBuf::from(crate::config::DEFAULT_CONFIG_PATH);
    let mut words = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                config = PathBuf::from(iter.next().ok_or("`--config` needs a value")?)
            }
            word => words.push(word),
        }
    }
    Ok((config, Command::parse(&words)?))
}

/// A store answers when its remux and upload are done, within the worker's bound.
fn answer_timeout(config: &Config, command: &Command) -> Duration {
    match command {
        Command::Store { .. } => {
            Duration::from_secs(config.live.store_timeout_secs.saturating_add(60))
        }
        _ => ANSWER_TIMEOUT,
    }
}

/// Prints the worker's answer (`record list`: one recording a line; `record store`:
/// what was stored, then the URL path it plays at on a line of its own).
pub fn run(config: &Config, command: Command) -> i32 {
    let timeout = answer_timeout(config, &command);
    let request = ControlRequest::Record(command);
    let answer = match control::request(&config.control_socket, request, timeout) {
        Ok(answer) => answer,
        Err(e) => format!("error: {e} ({})", config.control_socket.display()),
    };
    if !answer.starts_with("record:") {
        eprintln!("{answer}");
        return 1;
    }
    for line in answer.split("; ") {
        println!("{line}");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_record_commands() {
        let (config, command) = parse(&args("start s1 --from -8s --config /f.toml")).unwrap();
        assert_eq!(config, PathBuf::from("/f.toml"));
        assert_eq!(
            command,
            Command::Start {
                stream: "s1".into(),
                from: Some("-8s".into())
            }
        );
        assert_eq!(parse(&args("list")).unwrap().1, Command::List);
        let (_, store) = parse(&args("store s1-5 --config /f.toml --to s3")).unwrap();
        assert_eq!(
            store,
            Command::Store {
                id: "s1-5".into(),
                to: "s3".into(),
                key: None
            }
        );
        let config = Config::default();
        assert_eq!(
            answer_timeout(&config, &store),
            Duration::from_secs(config.live.store_timeout_secs + 60)
        );
        assert_eq!(answer_timeout(&config, &Command::List), ANSWER_TIMEOUT);
        assert!(parse(&args("store s1-5")).is_err());
        assert!(parse(&args("start")).is_err());
        assert!(parse(&args("list --config")).is_err());
    }
}
