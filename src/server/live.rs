//! The worker's side of `[live]`: the periodic look at streams and recordings (on
//! the blocking pool), `record` requests from the control socket and from
//! `/_casterpak/record` (`store` as a task of its own), and the recordings' URL space
//! (never a packaging miss).

use crate::config::Config;
use crate::control::{ControlHandler, ControlRequest};
use crate::live::{record, Live};
use std::sync::Arc;
use std::time::SystemTime;

/// The recorder and its periodic tick.
pub type Running = (Arc<Live>, tokio::task::JoinHandle<()>);

/// Creates the live dirs and starts the tick; `None` when live is off.
pub fn start(config: &Config) -> Result<Option<Running>, String> {
    if !config.live.enabled {
        return Ok(None);
    }
    let live = Arc::new(Live::new(config).map_err(|e| format!("live dirs: {e}"))?);
    let ticking = live.clone();
    let task = tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::live::TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let live = ticking.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || live.tick(SystemTime::now())).await
            {
                log::warn!("live tick: {e}");
            }
        }
    });
    Ok(Some((live, task)))
}

/// The control handler with `record …` answered by the recorder.
pub fn control_handler(inner: ControlHandler, live: Option<Arc<Live>>) -> ControlHandler {
    let Some(live) = live else {
        return inner;
    };
    Arc::new(move |request| match request {
        ControlRequest::Record(command) => Box::pin(answer(live.clone(), command)),
        other => inner(other),
    })
}

/// One recording command on the blocking pool; a store as a task of its own, so a
/// client that stops waiting (nginx's read timeout over HTTP) does not stop it.
pub async fn answer(live: Arc<Live>, command: record::Command) -> String {
    if let record::Command::Store { id, to, key } = command {
        return tokio::spawn(crate::live::store::store(live, id, to, key))
            .await
            .unwrap_or_else(|e| format!("error: record store task failed: {e}"));
    }
    tokio::task::spawn_blocking(move || live.record(&command, SystemTime::now()))
        .await
        .unwrap_or_else(|e| format!("error: record task failed: {e}"))
}

/// `/_casterpak/record?start=S[&from=F]`, `?stop=ID`, `?delete=ID`, `?list`,
/// `?store=ID&to=P[&key=K]` → a command (pure). Values are names, numbers and paths
/// of `[A-Za-z0-9._/-]` only, so nothing is percent-decoded.
pub fn command_from_query(query: &str) -> Result<record::Command, String> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((k, v));
    }
    let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let one = [
        get("start"),
        get("stop"),
        get("delete"),
        get("list"),
        get("store"),
    ];
    let words: Vec<&str> = match one {
        [Some(s), None, None, None, None] => match get("from") {
            Some(f) => vec!["start", s, "--from", f],
            None => vec!["start", s],
        },
        [None, Some(id), None, None, None] => vec!["stop", id],
        [None, None, Some(id), None, None] => vec!["delete", id],
        [None, None, None, Some(_), None] => vec!["list"],
        [None, None, None, None, Some(id)] => {
            let mut words = vec!["store", id];
            for (key, option) in [("to", "--to"), ("key", "--key")] {
                if let Some(value) = get(key) {
                    words.extend([option, value]);
                }
            }
            words
        }
        _ => vec![],
    };
    record::Command::parse(&words)
}

/// True for a URL path under `<url_prefix>/recordings/`: nginx serves those files
/// from the cache root; one that is missing is a 404, not a title to package.
pub fn is_recording_path(path: &[u8], url_prefix: &str) -> bool {
    let prefix = format!("{url_prefix}/{}/", record::RECORDINGS);
    path.starts_with(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_one_command() {
        assert_eq!(
            command_from_query("start=s1&from=-8s").unwrap(),
            record::Command::Start {
                stream: "s1".into(),
                from: Some("-8s".into())
            }
        );
        assert_eq!(command_from_query("list").unwrap(), record::Command::List);
        assert_eq!(
            command_from_query("stop=s1-5").unwrap(),
            record::Command::Stop { id: "s1-5".into() }
        );
        assert_eq!(
            command_from_query("store=s1-5&to=s3&key=a/b.mp4").unwrap(),
            record::Command::Store {
                id: "s1-5".into(),
                to: "s3".into(),
                key: Some("a/b.mp4".into())
            }
        );
        assert_eq!(
            command_from_query("to=s3&store=s1-5").unwrap().to_words(),
            "store s1-5 --to s3"
        );
        for bad in [
            "",
            "store=s1-5",
            "store=s1-5&to=s3&key=a%2fb.mp4",
            "store=s1-5&to=s3&stop=s1-5",
            "start=s1&stop=x",
            "start=..%2f",
            "delete=a/b",
            "pause=1",
        ] {
            assert!(command_from_query(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn recordings_paths() {
        assert!(is_recording_path(b"/i/recordings/s1-5/master.m3u8", "/i"));
        assert!(!is_recording_path(b"/i/recordings.mp4/master.m3u8", "/i"));
        assert!(!is_recording_path(b"/c/recordings/x", "/i"));
        // nginx's hits on recordings name no cache entry: the sweep never sees them.
        for file in ["master.m3u8", "index_0_av.m3u8", "seg3.ts"] {
            let uri = format!("/i/recordings/s1-5/{file}");
            assert_eq!(
                crate::url::keys_for_hit(uri.as_bytes(), "/i", 4096),
                Vec::<String>::new()
            );
        }
    }
}
