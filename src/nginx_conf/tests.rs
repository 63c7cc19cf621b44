//! Unit tests of the nginx configuration generator.

use super::*;
use std::path::PathBuf;

/// The text of the location block that starts with `header`.
fn block<'a>(conf: &'a str, header: &str) -> &'a str {
    let start = conf.find(header).unwrap_or_else(|| panic!("no {header:?}"));
    let rest = &conf[start..];
    let end = rest.find("\n    }\n").expect("block end");
    &rest[..end]
}

fn standalone_conf(run_as_root: bool) -> String {
    standalone_with(
        &Config::default(),
        &Standalone {
            listen: "127.0.0.1:8080",
            prefix: Path::new("/tmp/px/"),
            run_as_root,
        },
    )
}

#[test]
fn committed_template_is_the_generated_default() {
    let committed = include_str!("../../nginx/casterpak.conf");
    assert_eq!(
        committed,
        server_block(&Config::default()),
        "nginx/casterpak.conf drifted: regenerate it with `casterpak nginx-conf --config /dev/null`"
    );
}

#[test]
fn example_config_is_the_default_config() {
    let example = include_str!("../../casterpak.example.toml");
    let parsed = Config::from_toml(example).expect("example parses");
    assert_eq!(parsed, Config::default());
    // Every key is present (not merely defaulted): each leaf key of the defaults,
    // serialised by name, must appear as an uncommented `key =` line.
    for key in [
        "listen",
        "control_socket",
        "hit_log",
        "url_prefix",
        "internal_prefix",
        "media_root",
        "cache_root",
        "db_path",
        "segment_duration",
        "public_base_url",
        "mp4info",
        "mp42hls",
        "mode",
        "pool_size",
        "queue_limit",
        "tool_timeout_secs",
        "tool_memory_bytes",
        "failure_ttl_secs",
        "max_uri_bytes",
        "retry_after_secs",
        "shutdown_grace_secs",
        "segment_ttl_secs",
        "max_cache_bytes",
        "orphan_grace_secs",
        "hit_flush_ms",
        "segment_max_age_secs",
        "playlist_max_age_secs",
        "min_segment_duration_ms",
        "max_segment_duration_ms",
        "key",
        "alternate_key",
        "protect",
        "name",
        "propagation",
        "script",
        "root",
        "ttl_secs",
        "max_bytes",
        "revalidate_secs",
        "connect_timeout_secs",
        "read_timeout_secs",
        "retries",
        "ingest_token",
        "ended_after_secs",
        "live_ttl_secs",
        "ended_ttl_secs",
        "post_socket",
        "ingest_log",
        "ffmpeg",
        "store_timeout_secs",
    ] {
        assert!(
            example.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "casterpak.example.toml lacks key {key}"
        );
    }
}

#[test]
fn locations_follow_the_config() {
    let mut config = Config {
        url_prefix: "/vod/hls".into(),
        internal_prefix: "/_fill".into(),
        cache_root: PathBuf::from("/data/cache/"),
        listen: PathBuf::from("/run/x/w.sock"),
        hit_log: PathBuf::from("/run/x/h.log"),
        ..Config::default()
    };
    config.cache.segment_max_age_secs = 111;
    config.cache.playlist_max_age_secs = 22;
    config.limits.tool_timeout_secs = 40;
    config.cache.hit_flush_ms = 2001;
    let conf = server_block(&config);
    let cases: [(&str, &[&str]); 4] = [
        (
            "location ^~ /vod/hls/ {",
            &[
                "root \"/data/cache\";",
                "try_files $casterpak_file @casterpak;",
                "access_log \"/run/x/h.log\" casterpak_hits buffer=64k flush=3s if=$casterpak_logged_hit;",
                "add_header Cache-Control $casterpak_cache_control;",
                "Access-Control-Allow-Origin \"*\" always;",
                "return 204;",
            ],
        ),
        (
            "location @casterpak {",
            &[
                "scgi_pass \"unix:/run/x/w.sock\";",
                "scgi_param REQUEST_ID $request_id;",
                "scgi_param HTTP_HOST $http_host;",
                "scgi_read_timeout 90s;",
            ],
        ),
        (
            "location ^~ /_fill/ {",
            &[
                "internal;",
                "alias \"/data/cache/\";",
                "add_header Cache-Control $casterpak_cache_control;",
                "Access-Control-Allow-Origin \"*\" always;",
                "application/vnd.apple.mpegurl m3u8;",
                "video/mp2t ts;",
            ],
        ),
        (
            "location ~ ^/_casterpak/(health|ready|metrics|purge|record)$ {",
            &["allow 127.0.0.1;", "allow ::1;", "deny all;", "scgi_pass \"unix:/run/x/w.sock\";"],
        ),
    ];
    for (header, needles) in cases {
        let text = block(&conf, header);
        for needle in needles {
            assert!(text.contains(needle), "{header} lacks {needle:?}:\n{text}");
        }
    }
    assert!(conf.contains("~\\.ts$ \"public, max-age=111, immutable\";"));
    assert!(conf.contains("~\\.m3u8$ \"public, max-age=22\";"));
    for directive in [
        "open_file_cache max=10000 inactive=30s;",
        "open_file_cache_valid 2s;",
        "open_file_cache_errors off;",
    ] {
        assert!(conf.contains(directive), "{directive}");
    }
    assert!(conf.contains("log_format casterpak_hits '$status $request_uri';"));
}

#[test]
fn internal_location_cannot_loop() {
    let conf = server_block(&Config::default());
    let internal = block(&conf, "location ^~ /_casterpak_cache/ {");
    assert!(!internal.contains("try_files"));
    assert!(!internal.contains("scgi_pass"));
    // Its one way out is the error page, which answers itself and goes nowhere else.
    assert_eq!(internal.matches('@').count(), 1, "{internal}");
    assert!(internal.contains("error_page 404 = @casterpak_gone;"));
    let gone = block(&conf, "location @casterpak_gone {");
    for sends_on in [
        "try_files",
        "scgi_pass",
        "rewrite",
        "error_page",
        "= @",
        "internal",
    ] {
        assert!(!gone.contains(sends_on), "{sends_on} in {gone}");
    }
    assert!(gone.contains("add_header Retry-After 1 always;"), "{gone}");
    assert!(gone.contains("return 503 "), "{gone}");
    // A direct request (no worker answer before it) stays a 404.
    assert!(gone.contains("if ($upstream_status = \"\") {"), "{gone}");
}

#[test]
fn only_get_and_head_pass_the_public_location() {
    let conf = server_block(&Config::default());
    let public = block(&conf, "location ^~ /i/ {");
    let refuse = public
        .find("if ($request_method !~ ^(GET|HEAD)$) {")
        .expect("method check");
    let preflight = public
        .find("if ($request_method = OPTIONS) {")
        .expect("preflight");
    // Rewrite-phase checks run in order, all before try_files can reach the worker.
    assert!(preflight < refuse);
    let check = &public[refuse..];
    let check = &check[..check.find("        }\n").expect("end of if")];
    assert!(
        check.contains("add_header Allow \"GET, HEAD\" always;"),
        "{check}"
    );
    assert!(
        check.contains("Access-Control-Allow-Origin \"*\" always;"),
        "{check}"
    );
    assert!(check.contains("return 405;"), "{check}");
}

#[test]
fn admin_block_sends_nothing_else_to_the_worker() {
    let conf = server_block(&Config::default());
    assert_eq!(conf.matches("scgi_pass").count(), 2);
    assert!(block(&conf, "    location / {").contains("return 404;"));
    assert!(!conf.contains("user root"));
    assert!(!conf.contains("include scgi_params"));
}

#[test]
fn standalone_keeps_every_writable_path_inside_the_prefix() {
    let conf = standalone_conf(false);
    for directive in [
        "pid",
        "error_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ] {
        let line = conf
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{directive} ")))
            .unwrap_or_else(|| panic!("no {directive}"));
        assert!(line.contains("\"/tmp/px/"), "{line}");
        assert!(!line.contains("//"), "{line}");
    }
    for line in conf
        .lines()
        .filter(|l| l.trim_start().starts_with("access_log "))
    {
        assert!(
            line.contains("/tmp/px/logs/") || line.contains("/run/casterpak/hits.log"),
            "{line}"
        );
    }
    assert!(conf.contains("listen 127.0.0.1:8080;"));
    assert!(conf.contains("worker_processes auto;"));
    assert!(conf.contains("worker_rlimit_nofile 16384;"));
    assert!(conf.contains("    worker_connections 4096;"));
    assert!(conf.contains("include /etc/nginx/mime.types;"));
    assert!(block(&conf, "    location / {").contains("root \"/tmp/px/www\";"));
    assert_eq!(conf.matches('{').count(), conf.matches('}').count());
}

#[test]
fn user_root_only_when_running_as_root() {
    assert!(standalone_conf(true).lines().any(|l| l == "user root;"));
    assert!(!standalone_conf(false).contains("user "));
}

#[test]
fn quoting_escapes_quotes_and_backslashes() {
    let cases = [
        ("/a b", "\"/a b\""),
        ("/a\"b", "\"/a\\\"b\""),
        ("/a\\b", "\"/a\\\\b\""),
        ("/ü", "\"/ü\""),
    ];
    for (input, expected) in cases {
        assert_eq!(quoted(input), expected);
    }
    assert_eq!(trimmed(Path::new("/")), "/");
    assert_eq!(trimmed(Path::new("/a/b//")), "/a/b");
}

#[test]
fn hit_log_flush_is_hit_flush_ms_rounded_up_to_whole_seconds() {
    for (ms, flush) in [
        (1, "flush=1s "),
        (999, "flush=1s "),
        (1000, "flush=1s "),
        (1001, "flush=2s "),
        (2000, "flush=2s "),
        (60_500, "flush=61s "),
    ] {
        let mut config = Config::default();
        config.cache.hit_flush_ms = ms;
        let conf = server_block(&config);
        let line = conf
            .lines()
            .find(|l| l.contains("casterpak_hits buffer=64k"))
            .expect("hit log line");
        assert!(line.contains(flush), "{ms} ms: {line}");
    }
}
