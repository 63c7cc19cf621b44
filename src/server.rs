//! The SCGI front: a unix socket nginx's `scgi_pass` talks to. Each connection
//! carries one request; the answer is a redirect to the cache (`X-Accel-Redirect`),
//! a short error, or one of the worker's own endpoints. Also starts the store,
//! hit log and control socket, and shuts down gracefully on SIGTERM/SIGINT.

mod cmaf;
pub mod connections;
pub mod live;
pub mod scgi;
pub mod scrape;

use crate::cache::Cache;
use crate::config::Config;
use crate::disk_space::DiskSpace;
use crate::error::Failure;
use crate::hitlog::HitCounters;
use crate::metrics::Metrics;
use crate::packager::{Answer, Packager};
use crate::source::MediaRoot;
use crate::store::Store;
use crate::tool::Tools;
use crate::url::{self, Resource};
use connections::{Admission, Connections, Place};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

/// A connection shed past the bound gets this long to send its header before its 503.
const SHED_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// After the grace, abandoned fills' waiters get this long to send their 503s.
const ANSWER_AFTER_ABANDON: Duration = Duration::from_secs(5);
/// How long a stop waits for `record store`s to end once told to.
const STORES_STOP: Duration = Duration::from_secs(5);
/// Incomplete masters heal when the missing rendition appears: cache briefly.
const PARTIAL_MASTER_MAX_AGE: u64 = 10;

/// What every connection needs.
struct State {
    config: Arc<Config>,
    packager: Arc<Packager>,
    metrics: Arc<Metrics>,
    disk: Arc<DiskSpace>,
    connections: Arc<Connections>,
    scrape: scrape::Sources,
    /// What `/_casterpak/purge` evicts with (the same as the control socket's purge).
    purge_with: (Arc<Store>, Cache),
    /// The live recorder, when `[live]` is enabled.
    live: Option<Arc<crate::live::Live>>,
    /// nginx sends the whole header block at once; a client slower than this is
    /// dropped, and an answer nginx does not take in this long is abandoned.
    header_timeout: Duration,
}

/// Runs the worker until SIGTERM/SIGINT; returns the exit code.
pub fn run(config: Config) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("casterpak: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("casterpak: {e}");
            1
        }
    }
}

fn ctx<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Starts everything and serves until a shutdown signal.
pub async fn serve(config: Config) -> Result<(), String> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    // Before anything opens descriptors: every held connection is one.
    let open_files = match connections::raise_open_files_limit() {
        Ok((_, now, _)) => now,
        Err(e) => {
            log::warn!("reading the open-files limit: {e}");
            1024
        }
    };
    let connection_limit = match config.limits.max_connections {
        0 => connections::derived_limit(open_files, config.pool_size()),
        n => n,
    };
    log::info!("holding at most {connection_limit} SCGI connections");
    // The store first: its lock proves no other worker uses this cache, and only
    // then may Cache::new empty the scratch dirs.
    let db_path = config.db_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
        .await
        .map_err(ctx("opening the database"))?
        .map_err(ctx("opening the database"))?;
    let store = Arc::new(store);
    let cache = Cache::new(config.cache_root.clone()).map_err(ctx("cache_root"))?;
    let unclean = check_after_unclean_stop(&store, &cache).await?;
    let (purge_store, purge_cache, purge_config) = (store.clone(), cache.clone(), config.clone());
    tokio::task::spawn_blocking(move || {
        crate::purge::after_encryption_change(&purge_store, &purge_cache, &purge_config)?;
        crate::purge::after_token_variable_change(&purge_store, &purge_cache, &purge_config)
    })
    .await
    .map_err(ctx("checking the encryption and token settings"))?
    .map_err(ctx("a settings change"))?;
    let remotes = crate::remote::Remotes::from_config(&config, metrics.clone())?.map(Arc::new);
    if let (true, Some(remotes)) = (unclean, &remotes) {
        // Block records are not synced with their data: after a crash or power cut
        // a record may name blocks that never reached the disk. Start over.
        let forgotten = remotes.input_cache().forget_all();
        log::info!("input cache: {forgotten} copies forgotten after the unclean stop");
    }
    let media = MediaRoot::new(&config.media_root)
        .map_err(ctx("media_root"))?
        .with_remotes(remotes);
    let (cache_root, cache_config) = (config.cache_root.clone(), config.cache.clone());
    let disk = tokio::task::spawn_blocking(move || DiskSpace::new(&cache_root, &cache_config))
        .await
        .map(Arc::new)
        .map_err(ctx("measuring cache_root"))?;
    let disk_refresh = disk.spawn_refresh();
    // Adopts what a previous run or a lost database left on disk; runs beside serving.
    let _reconcile = crate::sweep::spawn_startup_reconcile(store.clone(), cache.clone());
    let tools = Arc::new(Tools::start(&config, metrics.clone()).await?);
    if config.encryption.enabled() && tools.mode() == crate::tool::Mode::Whole {
        return Err(
            "encryption: [encryption] paths need casterpak's mp42hls (it encrypts \
                    one segment per miss); the configured tools package whole titles"
                .into(),
        );
    }
    let freshness = Arc::new(crate::freshness::Freshness::new(
        media.clone(),
        cache.clone(),
        store.clone(),
    ));
    let packager = Arc::new(Packager::new(
        config.clone(),
        media,
        cache.clone(),
        tools.clone(),
        Some(store.clone()),
        metrics.clone(),
    ));

    let hits = Arc::new(HitCounters::default());
    let prefix = config.url_prefix.clone();
    let max = config.limits.max_uri_bytes;
    let formats = config.clone();
    let mapper: crate::hitlog::UriMapper = Arc::new(move |uri: &[u8]| {
        cmaf::keys_for_hit(uri, &formats).unwrap_or_else(|| url::keys_for_hit(uri, &prefix, max))
    });
    let flush_every = Duration::from_millis(config.cache.hit_flush_ms);
    // nginx serves hits without us: the hit feed is where a changed source shows.
    let check: crate::hitlog::BatchCheck = Arc::new(move |keys| freshness.check_hits(keys));
    let hitlog = crate::hitlog::spawn_with_check(
        &config.hit_log,
        store.clone(),
        mapper,
        flush_every,
        hits.clone(),
        Some(check),
    )
    .map_err(ctx("hit_log"))?;
    let live = live::start(&config)?;
    let live_recorder = live.as_ref().map(|(l, _)| l.clone());
    let handler = crate::sweep::control_handler(store.clone(), cache.clone(), config.clone());
    let handler = live::control_handler(handler, live_recorder.clone());
    let control =
        crate::control::serve(&config.control_socket, handler).map_err(ctx("control_socket"))?;

    let listener = bind(&config).map_err(ctx("listen"))?;
    log::info!("casterpak listening on {}", config.listen.display());
    let connections = Connections::new(connection_limit);
    let scrape = scrape::Sources::new(
        metrics.clone(),
        hits,
        disk.clone(),
        connections.clone(),
        packager.clone(),
        store.clone(),
    )
    .with_live(live_recorder.clone());
    let state = Arc::new(State {
        config: config.clone(),
        packager,
        metrics,
        disk,
        connections,
        scrape,
        purge_with: (store.clone(), cache.clone()),
        live: live_recorder,
        header_timeout: Duration::from_secs(config.limits.scgi_header_timeout_secs),
    });
    let connections = accept_until_signal(listener, state.clone()).await;

    // The stop: nothing new is accepted by now. A store (minutes of remux and
    // upload) is not waited for: it ends now and records nothing.
    if let Some(live) = &state.live {
        live.stop_stores();
    }
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    finish_requests(connections, &state.packager, grace).await;
    // The tool processes go once no fill can use them.
    tools.shutdown().await;
    disk_refresh.abort();
    // Aborting drops the hit reader, which reads and writes what the log still holds;
    // awaiting makes sure that write happened before the final flush below.
    hitlog.abort();
    let _ = hitlog.await;
    control.abort();
    let _ = control.await;
    if let Some((recorder, tick)) = live {
        tick.abort();
        // Their scratch files go before the scratch dir is emptied below.
        let deadline = Instant::now() + STORES_STOP;
        while recorder.stores_running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (flush_store, flush_cache) = (store.clone(), cache.clone());
    match tokio::task::spawn_blocking(move || flush(&flush_store, &flush_cache)).await {
        Ok(()) => {}
        Err(e) => log::warn!("shutdown: flushing: {e}"),
    }
    for socket in [&config.listen, &config.control_socket] {
        let _ = crate::control::remove_stale_socket(socket);
    }
    log::info!("casterpak stopped");
    Ok(())
}

/// Lets the requests in progress finish within `grace`; then abandons their fills
/// (503, tools killed, scratch removed) and waits until nothing of ours runs.
async fn finish_requests(mut connections: JoinSet<()>, packager: &Packager, grace: Duration) {
    log::info!(
        "shutting down: finishing {} requests ({} fills), for at most {grace:?}",
        connections.len(),
        packager.fills_in_flight()
    );
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        log::warn!(
            "shutdown: {} fills still running after {grace:?}: abandoning them",
            packager.fills_in_flight()
        );
        packager.abandon_fills();
        let answered = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(ANSWER_AFTER_ABANDON, answered)
            .await
            .is_err()
        {
            connections.shutdown().await;
        }
    }
    packager.idle().await;
}

/// The last writes of a stop (blocking): what abandoned tools left in the scratch
/// dir, sled, then one sync of the cache and its clean mark (the next start skips
/// the check of published files).
fn flush(store: &Store, cache: &Cache) {
    if let Err(e) = cache.clear_scratch() {
        log::warn!("shutdown: emptying the scratch dir: {e}");
    }
    if let Err(e) = store.flush() {
        log::warn!("store flush at shutdown: {e}");
    }
    match cache.mark_clean() {
        Ok(()) => log::info!("cache synced and marked clean"),
        Err(e) => log::warn!("shutdown: syncing the cache: {e}; the next start checks it"),
    }
}

/// Fills do not fsync; a previous run that did not stop cleanly may have left
/// published files short, so each entry is checked (and a damaged one evicted)
/// before this run answers anything.
/// True when the previous run did not stop cleanly.
async fn check_after_unclean_stop(store: &Arc<Store>, cache: &Cache) -> Result<bool, String> {
    let (store, cache) = (store.clone(), cache.clone());
    tokio::task::spawn_blocking(move || {
        if cache.take_clean_mark().map_err(ctx("cache_root"))? {
            log::info!("the previous run stopped cleanly: published files are whole");
            return Ok(false);
        }
        log::info!("the previous run did not stop cleanly: checking published files");
        match crate::sweep::evict_damaged(&store, &cache) {
            Ok((checked, evicted)) => {
                log::info!("startup check: {checked} entries checked, {evicted} damaged evicted")
            }
            Err(e) => log::error!("startup check failed: {e}"),
        }
        Ok(true)
    })
    .await
    .map_err(ctx("checking the cache"))?
}

fn bind(config: &Config) -> std::io::Result<UnixListener> {
    crate::control::remove_stale_socket(&config.listen)?;
    if let Some(parent) = config.listen.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = UnixListener::bind(&config.listen)?;
    // nginx runs as another user; the socket's directory is the access control.
    std::fs::set_permissions(&config.listen, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Accepts until SIGTERM or SIGINT; returns the connections still in progress.
async fn accept_until_signal(listener: UnixListener, state: Arc<State>) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot watch SIGTERM: {e}");
            return connections;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match state.connections.admit() {
                    Admission::Serve(place) => {
                        let state = state.clone();
                        connections.spawn(async move { connection(stream, place, state).await });
                    }
                    Admission::Shed(guard) => {
                        let state = state.clone();
                        connections.spawn(async move {
                            shed(stream, &state).await;
                            drop(guard);
                        });
                    }
                    Admission::Close => drop(stream),
                },
                Err(e) => {
                    log::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    // Refuse new connections at once (nginx answers them 502 and may retry another
    // upstream); the socket file goes at the very end.
    drop(listener);
    while connections.try_join_next().is_some() {}
    connections
}

/// Reads the header netstring; `None` drops the connection (malformed, too
/// large, or closed early).
async fn read_headers(stream: &mut UnixStream) -> Option<scgi::Headers> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match scgi::parse(&buf) {
                Ok(Some((headers, _))) => return Some(headers),
                Ok(None) => {}
                Err(e) => {
                    log::debug!("dropping malformed SCGI request: {e:?}");
                    return None;
                }
            }
            if buf.len() > scgi::MAX_HEADER_BYTES + 16 {
                return None;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    };
    read.await
}

/// Serves one connection: its header within the timeout (unless a newer connection
/// displaces it first), then the answer.
async fn connection(mut stream: UnixStream, mut place: Place, state: Arc<State>) {
    let Some(mut displaced) = place.displaced.take() else {
        return;
    };
    let headers = tokio::select! {
        read = tokio::time::timeout(state.header_timeout, read_headers(&mut stream)) => match read {
            Ok(Some(headers)) => headers,
            Ok(None) => return,
            Err(_) => {
                state.connections.timed_out.fetch_add(1, Ordering::Relaxed);
                log::debug!("closing an SCGI connection that sent no header in {:?}", state.header_timeout);
                return;
            }
        },
        _ = &mut displaced => return,
    };
    if !place.header_arrived() {
        return;
    }
    state.metrics.in_flight_add(1);
    let reply = respond(&headers, &state).await;
    state.metrics.in_flight_add(-1);
    send(&mut stream, &reply, state.header_timeout).await;
}

/// Writes an answer, giving up after `timeout` (nginx reads at once), then closes.
async fn send(stream: &mut UnixStream, reply: &[u8], timeout: Duration) {
    match tokio::time::timeout(timeout, stream.write_all(reply)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!("client went away before the answer: {e}"),
        Err(_) => log::debug!("client took no answer in {timeout:?}"),
    }
    let _ = stream.shutdown().await;
}

/// Answers a connection past the bound 503. The header is read first: closing a
/// unix socket with unread data resets it, and nginx would log a 502 instead.
async fn shed(mut stream: UnixStream, state: &State) {
    let wait = state.header_timeout.min(SHED_HEADER_TIMEOUT);
    if tokio::time::timeout(wait, read_headers(&mut stream))
        .await
        .ok()
        .flatten()
        .is_none()
    {
        return;
    }
    let reply = response(
        503,
        &[
            ("Content-Type", "text/plain; charset=utf-8".into()),
            ("Cache-Control", "no-store".into()),
            (
                "Retry-After",
                state.config.limits.retry_after_secs.to_string(),
            ),
        ],
        b"too many connections, retry later\n",
    );
    send(&mut stream, &reply, wait).await;
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

/// A CGI-style response: `Status:` line, headers, blank line, body.
pub fn response(status: u16, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("Status: {status} {}\r\n", reason_phrase(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn text(status: u16, body: &str) -> Vec<u8> {
    response(
        status,
        &[
            ("Content-Type", "text/plain; charset=utf-8".into()),
            ("Cache-Control", "no-store".into()),
        ],
        format!("{body}\n").as_bytes(),
    )
}

fn failure_reply(failure: &Failure, retry_after: u64) -> Vec<u8> {
    let status = failure.status();
    let mut headers = vec![
        ("Content-Type", "text/plain; charset=utf-8".to_string()),
        ("Cache-Control", "no-store".to_string()),
    ];
    if status == 503 {
        headers.push(("Retry-After", retry_after.to_string()));
    }
    response(status, &headers, format!("{failure}\n").as_bytes())
}

async fn respond(headers: &scgi::Headers, state: &State) -> Vec<u8> {
    let uri = headers.get("REQUEST_URI").unwrap_or_default();
    // nginx always sends the method; a bare SCGI client that names none asks for GET.
    let method = headers.get("REQUEST_METHOD").unwrap_or(b"GET");
    let (prefix, max) = (&state.config.url_prefix, state.config.limits.max_uri_bytes);
    match url::screen(method, uri, prefix, max) {
        url::Screen::Proceed => {}
        url::Screen::MethodNotAllowed => {
            let allow = [("Allow", url::ALLOWED_METHODS.to_string())];
            return response(405, &allow, b"method not allowed\n");
        }
        url::Screen::Moved(location) => return response(301, &[("Location", location)], b""),
    }
    let path = uri.split(|&b| b == b'?').next().unwrap_or_default();
    match path {
        b"/_casterpak/health" => return text(200, "ok"),
        b"/_casterpak/ready" => {
            let ready = match state.disk.ready() {
                Ok(()) => state.packager.ready().await,
                Err(why) => Err(why),
            };
            return match ready {
                Ok(()) => text(200, "ready"),
                Err(why) => text(503, &why),
            };
        }
        // `casterpak purge` over HTTP, from localhost only (nginx's allow list).
        b"/_casterpak/purge" => {
            let query = uri.splitn(2, |&b| b == b'?').nth(1).unwrap_or_default();
            let Some(target) = std::str::from_utf8(query)
                .ok()
                .and_then(crate::purge::path_from_query)
            else {
                return text(400, "purge needs ?path=<url path or prefix>");
            };
            let (store, cache) = state.purge_with.clone();
            let answer = crate::purge::control_answer(store, cache, target).await;
            let status = if answer.starts_with("purge:") {
                200
            } else {
                400
            };
            return text(status, &answer);
        }
        // `casterpak record` over HTTP, from localhost only (nginx's allow list).
        b"/_casterpak/record" => {
            let Some(recorder) = state.live.clone() else {
                return text(404, "live is not enabled");
            };
            let query = uri.splitn(2, |&b| b == b'?').nth(1).unwrap_or_default();
            let command = std::str::from_utf8(query)
                .map_err(|_| "query is not UTF-8".to_string())
                .and_then(live::command_from_query);
            return match command {
                Ok(command) => {
                    let answer = live::answer(recorder, command).await;
                    let status = if answer.starts_with("record:") {
                        200
                    } else {
                        400
                    };
                    text(status, &answer)
                }
                Err(e) => text(400, &e),
            };
        }
        _ if live::is_recording_path(path, &state.config.url_prefix) => {
            return text(404, "no such recording file");
        }
        b"/_casterpak/metrics" => {
            return response(
                200,
                &[
                    ("Content-Type", "text/plain; version=0.0.4".into()),
                    ("Cache-Control", "no-store".into()),
                ],
                state.scrape.render().await.as_bytes(),
            );
        }
        _ => {}
    }
    let started = Instant::now();
    let id = headers
        .text("REQUEST_ID")
        .or_else(|| headers.text("HTTP_X_REQUEST_ID"))
        .unwrap_or_else(|| "-".into());
    let config = &state.config;
    let cmaf_request = cmaf::parse(uri, config);
    let (kind, key, outcome) = if let Some(parsed) = cmaf_request {
        cmaf::miss(state, uri, parsed).await
    } else {
        match url::parse(uri, &config.url_prefix, config.limits.max_uri_bytes) {
            Err(e) => (
                "invalid",
                String::from_utf8_lossy(uri).into_owned(),
                Err(Failure::Url(e)),
            ),
            Ok(request) => {
                let kind = match request.resource {
                    Resource::Master => "master",
                    Resource::MediaPlaylist => "playlist",
                    Resource::IFramePlaylist => "iframes",
                    Resource::Segment(_) => "segment",
                    Resource::Key => "key",
                    Resource::Subtitles { .. } => "subtitles",
                };
                // Before the packager looks at the files: a sweep now keeps them
                // until nginx has opened what we redirect it to.
                state.packager.cache().mark_answered(&request.entry_keys());
                state
                    .metrics
                    .inc("casterpak_misses_total", &[("kind", kind)]);
                // Below the floor no fill starts: 503 + Retry-After, never remembered.
                let outcome = if state.disk.allows_fill() {
                    state.packager.handle(&request).await
                } else {
                    Err(Failure::LowDiskSpace)
                };
                (kind, request.file_key, outcome)
            }
        }
    };
    state
        .metrics
        .inc("casterpak_requests_total", &[("kind", kind)]);
    let (status, reply) = match &outcome {
        Ok(Answer::Redirect(file_key)) => {
            let target = format!("{}/{}", config.internal_prefix, url::encode_path(file_key));
            (200, response(200, &[("X-Accel-Redirect", target)], b""))
        }
        Ok(Answer::Key(key)) => (
            200,
            response(
                200,
                &[
                    ("Content-Type", "application/octet-stream".into()),
                    // Never in a shared cache; the key is derived again on each ask.
                    ("Cache-Control", "private, no-store".into()),
                ],
                key,
            ),
        ),
        Ok(Answer::Playlist(body)) => (
            200,
            response(
                200,
                &[
                    ("Content-Type", "application/vnd.apple.mpegurl".into()),
                    ("Cache-Control", format!("max-age={PARTIAL_MASTER_MAX_AGE}")),
                ],
                body.as_bytes(),
            ),
        ),
        Err(failure) => {
            let status = failure.status();
            state.metrics.inc(
                "casterpak_failures_total",
                &[("status", &status.to_string()), ("kind", kind)],
            );
            (
                status,
                failure_reply(failure, config.limits.retry_after_secs),
            )
        }
    };
    let ms = started.elapsed().as_millis();
    match &outcome {
        Err(failure) => {
            log::info!("miss id={id} key={key:?} status={status} ms={ms} reason={failure}")
        }
        Ok(_) => log::info!("miss id={id} key={key:?} status={status} ms={ms}"),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ToolError;

    #[test]
    fn responses_are_cgi_style() {
        let r = response(
            200,
            &[("X-Accel-Redirect", "/_c/i/a%20b.mp4/master.m3u8".into())],
            b"",
        );
        assert_eq!(
            r,
            b"Status: 200 OK\r\nX-Accel-Redirect: /_c/i/a%20b.mp4/master.m3u8\r\n\r\n"
        );
        let r = failure_reply(&Failure::Tool(ToolError::Overloaded), 2);
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with("Status: 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nRetry-After: 2\r\n"), "{text}");
        assert!(text.contains("\r\nCache-Control: no-store\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\noverloaded, retry later\n"),
            "{text}"
        );
        let r = failure_reply(&Failure::LowDiskSpace, 3);
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with("Status: 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nRetry-After: 3\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\ncache disk is nearly full, retry later\n"),
            "{text}"
        );
        let r = failure_reply(&Failure::Tool(ToolError::Corrupt("moov missing".into())), 2);
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with("Status: 422 Unprocessable Entity\r\n"),
            "{text}"
        );
        assert!(!text.contains("Retry-After"), "{text}");
    }
}
