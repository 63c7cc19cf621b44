//! The generated nginx configuration is accepted by the real nginx (`nginx -t`).
//! `CASTERPAK_BLESS_NGINX=1 cargo test --test nginx_conf` rewrites nginx/casterpak.conf
//! from the generator (the unit test in src/nginx_conf.rs then checks it stays equal).

use casterpak::config::Config;
use casterpak::nginx_conf;
use std::path::Path;
use std::process::Command;

fn nginx_accepts(conf_text: &str, prefix: &Path) -> (bool, String) {
    std::fs::create_dir_all(prefix.join("logs")).expect("logs dir");
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, conf_text).expect("write nginx.conf");
    let out = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx must be installed (scripts/install-deps.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn standalone_conf_passes_nginx_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        listen: dir.path().join("worker.sock"),
        hit_log: dir.path().join("hits.log"),
        cache_root: dir.path().join("cache"),
        ..Config::default()
    };
    let text = nginx_conf::standalone(&config, "127.0.0.1:1", dir.path());
    let (ok, stderr) = nginx_accepts(&text, dir.path());
    assert!(ok, "nginx -t failed:\n{stderr}\n{text}");
    assert!(stderr.contains("syntax is ok"), "{stderr}");
}

#[test]
fn admin_block_passes_nginx_test_inside_an_http_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let block = nginx_conf::server_block(&Config::default());
    if std::env::var_os("CASTERPAK_BLESS_NGINX").is_some() {
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx/casterpak.conf");
        std::fs::write(template, &block).expect("write nginx/casterpak.conf");
    }
    // The admin block logs to /var/log/nginx and /run/casterpak and listens on port 80;
    // point them at the temp dir so the check runs unprivileged: only syntax and
    // directive contexts matter.
    let log = dir.path().join("logs/casterpak.access.log");
    let hit_log = dir.path().join("logs/hits.log");
    let block = block
        .replace(
            "/var/log/nginx/casterpak.access.log",
            &log.to_string_lossy(),
        )
        .replace("/run/casterpak/hits.log", &hit_log.to_string_lossy())
        .replace("listen 80;", "listen 127.0.0.1:1;");
    let p = dir.path().display();
    let text = format!(
        "pid {p}/logs/nginx.pid;\nevents {{}}\nhttp {{\ninclude /etc/nginx/mime.types;\n\
         client_body_temp_path {p}/b; proxy_temp_path {p}/p; fastcgi_temp_path {p}/f;\n\
         uwsgi_temp_path {p}/u; scgi_temp_path {p}/s;\naccess_log {p}/logs/a.log;\n{block}}}\n"
    );
    let (ok, stderr) = nginx_accepts(&text, dir.path());
    assert!(ok, "nginx -t failed:\n{stderr}\n{text}");
}

#[test]
fn live_block_passes_nginx_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "listen = {:?}\nhit_log = {:?}\ncache_root = {:?}\n[live]\nenabled = true\n\
         ingest_token = \"{token}\"\nallow = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\
         post_socket = {:?}\ningest_log = {:?}\n",
        dir.path().join("worker.sock").display().to_string(),
        dir.path().join("hits.log").display().to_string(),
        dir.path().join("cache").display().to_string(),
        dir.path().join("post.sock").display().to_string(),
        dir.path().join("logs/ingest.log").display().to_string(),
        // Long, with the characters a regex would read: the map must still build.
        token = "0123456789abcdef.+/=~-_".repeat(8),
    );
    let config = Config::from_toml(&text).expect("live config");
    // nginx makes the body temp dir (one level) at start: the cache root must exist.
    std::fs::create_dir_all(&config.cache_root).expect("cache root");
    let conf = nginx_conf::standalone(&config, "127.0.0.1:1", dir.path());
    assert!(conf.contains("location ^~ /live/ {"), "{conf}");
    let (ok, stderr) = nginx_accepts(&conf, dir.path());
    assert!(ok, "nginx -t failed:\n{stderr}\n{conf}");
}
