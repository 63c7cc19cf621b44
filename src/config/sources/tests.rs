use super::*;
use crate::config::Config;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Config {
    toml::from_str(text).unwrap()
}

fn check(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), (String, String)> {
    let c = parse(text);
    validate(&c.sources, &c.input_cache, &c.remote, env)
}

const GOOD: &str = r#"
[[sources]]
prefix = "archive"
kind = "http"
base_url = "http://127.0.0.1:9000/media"
headers = { "X-Origin-Secret" = "s3cret" }

[[sources]]
prefix = "bucket"
kind = "s3"
endpoint = "http://127.0.0.1:9001"
region = "us-east-1"
bucket = "vod-media"
key_prefix = "titles/"
path_style = false
access_key_id = "AK"
secret_access_key = "SK"

[[sources]]
prefix = "disk"
kind = "local"

[input_cache]
root = "/var/cache/in"
ttl_secs = 10
max_bytes = 1000

[remote]
revalidate_secs = 0
"#;

#[test]
fn every_kind_parses_with_its_keys() {
    let c = parse(GOOD);
    assert_eq!(check(GOOD, &no_env), Ok(()));
    assert_eq!(c.sources.len(), 3);
    assert_eq!(c.sources[0].kind, SourceKind::Http);
    assert_eq!(c.sources[0].headers["X-Origin-Secret"], "s3cret");
    assert_eq!(c.sources[1].kind, SourceKind::S3);
    assert!(!c.sources[1].path_style);
    assert!(c.sources[2].path_style, "path-style is the default");
    assert_eq!(c.input_cache.max_bytes, 1000);
    assert_eq!(c.remote.revalidate_secs, 0);
    assert_eq!(c.remote.retries, RemoteConfig::default().retries);
}

#[test]
fn unknown_keys_and_kinds_are_named() {
    for (text, word) in [
        ("[[sources]]\nprefix = \"a\"\nkind = \"ftp\"", "ftp"),
        (
            "[[sources]]\nprefix = \"a\"\nkind = \"http\"\nbase = \"x\"",
            "base",
        ),
        ("[input_cache]\nttl = 1", "ttl"),
    ] {
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(word), "{text:?}: {err}");
    }
}

#[test]
fn bad_values_name_their_key() {
    let http = |extra: &str| format!("[[sources]]\nprefix = \"a\"\nkind = \"http\"\n{extra}");
    let s3 = |extra: &str| {
        format!(
            "[[sources]]\nprefix = \"b\"\nkind = \"s3\"\nendpoint = \"http://h:1\"\nregion = \"r\"\nbucket = \"bkt\"\naccess_key_id = \"A\"\nsecret_access_key = \"S\"\n{extra}"
        )
    };
    let cases = [
        (http("base_url = \"ftp://x\""), "sources[0].base_url"),
        (http(""), "sources[0].base_url"),
        (http("base_url = \"http://\""), "sources[0].base_url"),
        (http("base_url = \"http://h/?q=1\""), "sources[0].base_url"),
        (
            http("base_url = \"http://h\"\nheaders = { \"Bad Name\" = \"v\" }"),
            "sources[0].headers",
        ),
        (
            "[[sources]]\nprefix = \"a/b\"\nkind = \"local\"".to_string(),
            "sources[0].prefix",
        ),
        (
            "[[sources]]\nprefix = \"..\"\nkind = \"local\"".to_string(),
            "sources[0].prefix",
        ),
        (
            format!(
                "{}\n{}",
                http("base_url = \"http://h\""),
                http("base_url = \"http://h\"")
            ),
            "sources[1].prefix",
        ),
        (s3("").replace("region = \"r\"", ""), "sources[0].region"),
        (s3("").replace("bkt", "B_k"), "sources[0].bucket"),
        (s3("").replace("http://h:1", "h:1"), "sources[0].endpoint"),
        (s3("key_prefix = \"/x\""), "sources[0].key_prefix"),
        (
            s3("").replace("access_key_id = \"A\"", ""),
            "sources[0].access_key_id",
        ),
        (
            s3("").replace("secret_access_key = \"S\"", ""),
            "sources[0].secret_access_key",
        ),
        (
            "[[sources]]\nprefix = \"a\"\nkind = \"local\"\nbase_url = \"http://h\"".into(),
            "sources[0].base_url",
        ),
        ("[input_cache]\nroot = \"rel\"".into(), "input_cache.root"),
        ("[input_cache]\nttl_secs = 0".into(), "input_cache.ttl_secs"),
        (
            "[input_cache]\nmax_bytes = 0".into(),
            "input_cache.max_bytes",
        ),
        (
            "[remote]\nread_timeout_secs = 0".into(),
            "remote.read_timeout_secs",
        ),
    ];
    for (text, key) in cases {
        let (got, _) = check(&text, &no_env).unwrap_err();
        assert_eq!(got, key, "{text}");
    }
    // Through Config, the message names the key too.
    let err = Config::from_toml(&http("base_url = \"x\"")).unwrap_err();
    assert!(err.to_string().contains("sources[0].base_url"), "{err}");
    let err = Config::from_toml("[input_cache]\nroot = \"/var/cache/casterpak/in\"").unwrap_err();
    assert!(err.to_string().contains("input_cache.root"), "{err}");
}

#[test]
fn s3_credentials_come_from_the_file_else_the_environment() {
    let text = "[[sources]]\nprefix = \"b\"\nkind = \"s3\"\nendpoint = \"http://h:1\"\nregion = \"r\"\nbucket = \"bkt\"";
    let env = |name: &str| match name {
        "AWS_ACCESS_KEY_ID" => Some("EA".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("ES".to_string()),
        "AWS_SESSION_TOKEN" => Some("ET".to_string()),
        _ => None,
    };
    assert_eq!(check(text, &env), Ok(()));
    let c = parse(text);
    assert_eq!(
        c.sources[0].credentials(&env),
        Some(S3Credentials {
            access_key_id: "EA".into(),
            secret_access_key: "ES".into(),
            session_token: Some("ET".into()),
        })
    );
    let own = parse(&format!(
        "{text}\naccess_key_id = \"A\"\nsecret_access_key = \"S\""
    ));
    assert_eq!(
        own.sources[0].credentials(&no_env),
        Some(S3Credentials {
            access_key_id: "A".into(),
            secret_access_key: "S".into(),
            session_token: None,
        })
    );
    assert_eq!(c.sources[0].credentials(&no_env), None);
}

#[test]
fn remote_keys_are_told_from_local_ones() {
    let c = Config::from_toml(GOOD).unwrap();
    assert!(c.is_remote_source("archive/a/b.mp4"));
    assert!(c.is_remote_source("bucket/x.mp4"));
    assert!(!c.is_remote_source("disk/x.mp4"));
    assert!(!c.is_remote_source("other/x.mp4"));
    assert!(c.is_remote_key("i/archive/a/b.mp4"));
    assert!(c.is_remote_key("i/bucket/t/x_,a,b,.mp4.csmil"));
    assert!(!c.is_remote_key("i/disk/x.mp4"));
    assert!(!c.is_remote_key("iarchive/x.mp4"));
}
