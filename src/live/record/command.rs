//! The `record` command's grammar (pure): the words after `record`, as the CLI, the
//! control socket and `/_casterpak/record` take them.

use crate::live::playlist;

/// A `record` command, as the control socket and the HTTP endpoint take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `from`: unix seconds, or `-<secs>[s]` before now; none: now.
    Start {
        stream: String,
        from: Option<String>,
    },
    Stop {
        id: String,
    },
    List,
    Delete {
        id: String,
    },
}

impl Command {
    /// Pure parser of the words after `record`.
    pub fn parse(words: &[&str]) -> Result<Command, String> {
        let id = |id: &str| {
            valid_id(id)
                .then(|| id.to_string())
                .ok_or_else(|| format!("{id:?} is not a recording id"))
        };
        match words {
            ["start", stream] | ["start", stream, "--from", _] => {
                if !playlist::valid_stream(stream) {
                    return Err(format!(
                        "{stream:?} is not a stream name (letters, digits, '_', '-'; 64 at most)"
                    ));
                }
                let from = match words {
                    [_, _, _, from] => {
                        parse_from(from, 0.0)?;
                        Some(from.to_string())
                    }
                    _ => None,
                };
                Ok(Command::Start {
                    stream: stream.to_string(),
                    from,
                })
            }
            ["stop", i] => Ok(Command::Stop { id: id(i)? }),
            ["delete", i] => Ok(Command::Delete { id: id(i)? }),
            ["list"] => Ok(Command::List),
            _ => Err("expected `record start STREAM [--from UNIX|-SECS]`, `record stop ID`, `record list` or `record delete ID`".into()),
        }
    }

    pub fn to_words(&self) -> String {
        match self {
            Command::Start { stream, from: None } => format!("start {stream}"),
            Command::Start {
                stream,
                from: Some(f),
            } => format!("start {stream} --from {f}"),
            Command::Stop { id } => format!("stop {id}"),
            Command::List => "list".into(),
            Command::Delete { id } => format!("delete {id}"),
        }
    }
}

/// `--from`: a unix time (seconds, decimals allowed) or `-8s` / `-8` before `now`.
pub fn parse_from(text: &str, now: f64) -> Result<f64, String> {
    let bad = || format!("--from {text:?}: expected unix seconds or -SECS (e.g. -8s)");
    if let Some(ago) = text.strip_prefix('-') {
        let secs: f64 = ago
            .strip_suffix('s')
            .unwrap_or(ago)
            .parse()
            .map_err(|_| bad())?;
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(bad());
        }
        return Ok(now - secs);
    }
    let at: f64 = text.parse().map_err(|_| bad())?;
    if !(at.is_finite() && at > 0.0) {
        return Err(bad());
    }
    Ok(at)
}

/// Ids are `<stream>-<unix seconds>[-<n>]`: one path component, nothing to escape.
pub fn valid_id(id: &str) -> bool {
    (1..=96).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            Command::parse(&["start", "s1", "--from", "-8s"]).unwrap(),
            Command::Start {
                stream: "s1".into(),
                from: Some("-8s".into())
            }
        );
        assert_eq!(Command::parse(&["list"]).unwrap(), Command::List);
        assert_eq!(
            Command::parse(&["stop", "s1-17"]).unwrap(),
            Command::Stop { id: "s1-17".into() }
        );
        for bad in [
            &["start", "../x"][..],
            &["start", "s1", "--from", "soon"],
            &["stop", "a/b"],
            &["delete", ".."],
            &["pause", "x"],
            &[],
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
        let c = Command::Start {
            stream: "s1".into(),
            from: Some("-8".into()),
        };
        assert_eq!(c.to_words(), "start s1 --from -8");
    }

    #[test]
    fn from_is_absolute_or_before_now() {
        assert_eq!(parse_from("-8s", 100.0), Ok(92.0));
        assert_eq!(parse_from("-8", 100.0), Ok(92.0));
        assert_eq!(parse_from("1700000000.5", 100.0), Ok(1_700_000_000.5));
        for bad in ["", "-", "-xs", "0", "-inf", "nan", "+-3"] {
            assert!(parse_from(bad, 100.0).is_err(), "{bad:?}");
        }
    }
}
