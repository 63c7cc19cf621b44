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
    /// `store ID --to PREFIX [--key REST]`: remux into MP4 and upload to the S3
    /// source PREFIX as REST (default `recordings/<id>.mp4`).
    Store {
        id: String,
        to: String,
        key: Option<String>,
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
            ["store", i, options @ ..] => {
                let (to, key) = store_options(options)?;
                Ok(Command::Store { id: id(i)?, to, key })
            }
            _ => Err("expected `record start STREAM [--from UNIX|-SECS]`, `record stop ID`, `record list`, `record delete ID` or `record store ID --to PREFIX [--key PATH.mp4]`".into()),
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
            Command::Store { id, to, key: None } => format!("store {id} --to {to}"),
            Command::Store {
                id,
                to,
                key: Some(k),
            } => format!("store {id} --to {to} --key {k}"),
        }
    }
}

/// `--to PREFIX` (required) and `--key REST`, in either order, each once.
fn store_options(words: &[&str]) -> Result<(String, Option<String>), String> {
    let (mut to, mut key) = (None, None);
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        let slot = match *word {
            "--to" => &mut to,
            "--key" => &mut key,
            other => return Err(format!("`record store`: unexpected {other:?}")),
        };
        let value = iter
            .next()
            .ok_or_else(|| format!("`record store`: {word} needs a value"))?;
        if slot.replace(value.to_string()).is_some() {
            return Err(format!("`record store`: {word} is given twice"));
        }
    }
    let to = to.ok_or("`record store` needs `--to PREFIX` (an S3 source's prefix)")?;
    if !valid_source_prefix(&to) {
        return Err(format!(
            "{to:?} is not a source prefix (one path component of letters, digits, '_', '-', '.')"
        ));
    }
    if let Some(rest) = &key {
        check_object_path(rest)?;
    }
    Ok((to, key))
}

/// A `[[sources]]` prefix as the config accepts one.
pub fn valid_source_prefix(prefix: &str) -> bool {
    (1..=64).contains(&prefix.len())
        && prefix != "."
        && prefix != ".."
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// `--key`: the stored title's path under its prefix, `<dirs>/<name>.mp4`. Letters,
/// digits, `_`, `-`, `.` and `/` only, so it is the same in the object key and in the
/// URL printed (nothing to percent-encode, no `,` a csmil list would split).
pub fn check_object_path(rest: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("--key {rest:?}: {why}"));
    if rest.len() > 512 {
        return bad("longer than 512 bytes");
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
    {
        return bad("only letters, digits, '_', '-', '.' and '/'");
    }
    if rest
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("an empty, '.' or '..' path component");
    }
    let name = rest.rsplit('/').next().unwrap_or(rest);
    if name.len() <= ".mp4".len() || !name.ends_with(".mp4") {
        return bad("must name an .mp4 file");
    }
    Ok(())
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
    fn parses_store_commands() {
        let store = |words: &[&str]| Command::parse(words);
        assert_eq!(
            store(&["store", "s1-17", "--to", "s3"]).unwrap(),
            Command::Store {
                id: "s1-17".into(),
                to: "s3".into(),
                key: None
            }
        );
        let keyed = Command::Store {
            id: "s1-17".into(),
            to: "arch.ive".into(),
            key: Some("shows/2024/ep_1.mp4".into()),
        };
        assert_eq!(
            store(&[
                "store",
                "s1-17",
                "--key",
                "shows/2024/ep_1.mp4",
                "--to",
                "arch.ive"
            ]),
            Ok(keyed.clone())
        );
        // Through the words the control socket carries and back.
        let words = keyed.to_words();
        let again: Vec<&str> = words.split_whitespace().collect();
        assert_eq!(Command::parse(&again), Ok(keyed));
        for bad in [
            &["store", "s1-17"][..],
            &["store", "s1-17", "--to"],
            &["store", "s1-17", "--to", "s3", "--to", "s4"],
            &["store", "s1-17", "--to", "a/b"],
            &["store", "s1-17", "--to", ".."],
            &["store", "s1-17", "--to", "s3", "extra"],
            &["store", "a/b", "--to", "s3"],
            &["store", "s1-17", "--to", "s3", "--key", "x.mov"],
            &["store", "s1-17", "--to", "s3", "--key", ".mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "/abs.mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "a//b.mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "../b.mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "a b.mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "a_,lo,.mp4"],
            &["store", "s1-17", "--to", "s3", "--key", "dir/"],
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
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
