//! Token authorization checked by nginx itself (Lua, `nginx/casterpak-token.lua`): valid
//! tokens pass on masters, playlists and segments, hits and misses; every kind of bad
//! token is a 403 with one line, also with the worker stopped; the token is handed on
//! from playlists (query) or by a cookie.

use crate::common::*;
use std::process::Command;

const KEY: &str = "4c1f2b4e8a0d9c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e";
const ALTERNATE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const MASTER: &str = "/i/clip_,low,medium,highdef,.mp4.csmil/master.m3u8";

fn protected_stack(propagation: &str) -> Stack {
    protected_stack_over(propagation, "[\"/i/\"]")
}

fn protected_stack_over(propagation: &str, protect: &str) -> Stack {
    protected_builder(propagation, protect).start()
}

fn protected_builder(propagation: &str, protect: &str) -> StackBuilder {
    let script = format!("{}/nginx/casterpak-token.lua", env!("CARGO_MANIFEST_DIR"));
    Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .media("clip_highdef.mp4")
        .config("token_auth", &format!("key = \"{KEY}\""))
        .config("token_auth", &format!("alternate_key = \"{ALTERNATE}\""))
        .config("token_auth", &format!("protect = {protect}"))
        .config("token_auth", &format!("propagation = \"{propagation}\""))
        .config("token_auth", &format!("script = {script:?}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token from `casterpak token`.
fn token(stack: &Stack, extra: &[&str]) -> String {
    let out = stack.casterpak(&[&["token"], extra].concat());
    assert!(
        out.status.success(),
        "casterpak token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A token signed by openssl, independently of our code.
fn openssl_token(key: &str, fields: &str) -> String {
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{key}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(fields.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run openssl (scripts/install-deps.sh installs it)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.rsplit("= ").next().unwrap().trim();
    assert_eq!(hex.len(), 64, "{text}");
    format!("{fields}~hmac={hex}")
}

fn without_query(uri: &str) -> &str {
    uri.split('?').next().unwrap()
}

fn with_token(path: &str, token: &str) -> String {
    format!("{path}?hdnts={token}")
}

fn assert_refused(stack: &Stack, path: &str, headers: &[&str], what: &str) {
    let r = request(stack.port, "GET", path.as_bytes(), headers);
    assert_eq!(
        r.status,
        403,
        "{what}: {path} gave {}: {}",
        r.status,
        r.text()
    );
    assert!(
        r.body.len() <= 80 && r.text().trim_end().lines().count() <= 1,
        "{what}: more than one line: {:?}",
        r.text()
    );
}

/// The URIs of a playlist (URI lines and URI="…" attributes).
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            for part in line.split("URI=\"").skip(1) {
                out.push(part.split('"').next().unwrap().to_string());
            }
        } else {
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn nginx_checks_tokens_on_hits_and_misses_and_propagates_them() {
    let mut stack = protected_stack("query");
    let good = token(&stack, &["--acl", "/i/*", "--window", "3600"]);

    // Misses, then hits, all with the token; the master's URIs carry it.
    let master = stack.get(&with_token(MASTER, &good));
    assert_eq!(master.status, 200, "{}", master.text());
    // Three variants, then their three I-frame streams (`URI="…"` attributes).
    let variants = uris(&master.text());
    assert_eq!(
        variants.len(),
        6,
        "{:?} {:?} {}",
        master.headers,
        master.text(),
        stack.nginx_error_log()
    );
    for uri in &variants {
        assert!(uri.ends_with(&format!("?hdnts={good}")), "{uri}");
    }
    let playlist_path = resolve(MASTER, &variants[0]);
    assert!(playlist_path.starts_with("/i/"), "{playlist_path}");
    let mut segment_path = String::new();
    for round in ["MISS", "HIT"] {
        let playlist = stack.get(&playlist_path);
        assert_eq!(playlist.status, 200, "{round}: {}", playlist.text());
        assert_eq!(playlist.header("x-casterpak-cache"), round);
        let segs = uris(&playlist.text());
        assert!(segs.len() > 2, "{}", playlist.text());
        for uri in &segs {
            assert!(uri.ends_with(&format!("?hdnts={good}")), "{round}: {uri}");
        }
        segment_path = resolve(without_query(&playlist_path), &segs[1]);
        let segment = stack.get(&segment_path);
        assert_eq!(segment.status, 200, "{round}: {segment_path}");
        assert_eq!(segment.header("x-casterpak-cache"), round);
        assert_transport_stream(&segment.body, &segment_path);
    }
    let master_hit = stack.get(&with_token(MASTER, &good));
    assert_eq!(master_hit.status, 200);
    assert_eq!(master_hit.header("x-casterpak-cache"), "HIT");
    assert_eq!(master_hit.text(), master.text());

    // The segment without its query, and each bad kind of token.
    let segment = without_query(&segment_path).to_string();
    let n = now();
    let early_st = (n + 600).to_string();
    let expired_st = (n - 600).to_string();
    let other_key = "00".repeat(16);
    let bad: Vec<(&str, String)> = vec![
        ("missing", String::new()),
        (
            "expired",
            token(
                &stack,
                &["--acl", "/i/*", "--window", "60", "--start", &expired_st],
            ),
        ),
        (
            "early",
            token(
                &stack,
                &["--acl", "/i/*", "--window", "60", "--start", &early_st],
            ),
        ),
        (
            "wrong acl",
            token(&stack, &["--acl", "/i/other/*!/c/*", "--window", "60"]),
        ),
        (
            "bad hmac",
            token(
                &stack,
                &["--acl", "/i/*", "--window", "60", "--key", &other_key],
            ),
        ),
        ("tampered acl", good.replacen("acl=/i/*", "acl=/*", 1)),
        ("tampered exp", {
            let exp = good.split('~').nth(1).unwrap().to_string();
            good.replacen(&exp, "exp=9999999999", 1)
        }),
        ("no hmac", good.split("~hmac=").next().unwrap().to_string()),
    ];
    for (what, t) in &bad {
        for path in [MASTER, without_query(&playlist_path), &segment] {
            let url = if t.is_empty() {
                path.to_string()
            } else {
                with_token(path, t)
            };
            assert_refused(&stack, &url, &[], what);
        }
        if !t.is_empty() {
            assert_refused(&stack, &segment, &[&format!("Cookie: hdnts={t}")], what);
        }
    }

    // The alternate key, a token signed by openssl, and the cookie all pass.
    let alternate = token(
        &stack,
        &["--acl", "/i/*", "--window", "60", "--key", ALTERNATE],
    );
    assert_eq!(stack.get(&with_token(&segment, &alternate)).status, 200);
    let fields = format!("st={}~exp={}~acl=/i/clip_*!/i/nothing", n - 1, n + 60);
    let independent = openssl_token(KEY, &fields);
    assert_eq!(stack.get(&with_token(MASTER, &independent)).status, 200);
    let cookie = format!("Cookie: a=b; hdnts={good}");
    let by_cookie = request(stack.port, "GET", segment.as_bytes(), &[&cookie]);
    assert_eq!(by_cookie.status, 200);

    // nginx decides alone: with the worker stopped a cached segment still needs the token.
    stack.stop_worker();
    assert_refused(&stack, &segment, &[], "worker stopped, no token");
    let hit = stack.get(&with_token(&segment, &good));
    assert_eq!((hit.status, hit.header("x-casterpak-cache")), (200, "HIT"));

    // Random garbage and mutations of a good token: 403, never a 5xx.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let alphabet: Vec<char> = "abcdef0123456789ghxyzST~=!*/_.-,;:%~~==".chars().collect();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1000 {
        let candidate: String = if i % 2 == 0 {
            (0..next(200))
                .map(|_| alphabet[next(alphabet.len())])
                .collect()
        } else {
            let mut chars: Vec<char> = good.chars().collect();
            for _ in 0..1 + next(3) {
                let at = next(chars.len());
                let old = chars[at];
                let new = *alphabet
                    .iter()
                    .cycle()
                    .skip(next(alphabet.len()))
                    .find(|c| !c.eq_ignore_ascii_case(&old))
                    .unwrap();
                chars[at] = new;
            }
            chars.truncate(next(chars.len() + 20).min(chars.len()).max(1));
            chars.into_iter().collect()
        };
        let r = request(
            stack.port,
            "GET",
            with_token(&segment, &candidate).as_bytes(),
            &[],
        );
        *statuses.entry(r.status).or_insert(0) += 1;
        assert_eq!(r.status, 403, "{candidate:?} gave {}", r.status);
    }
    println!("1000 malformed tokens: statuses {statuses:?}");
}

#[test]
fn cookie_propagation_sets_the_cookie_for_the_requests_that_follow() {
    let stack = protected_stack("cookie");
    let good = token(&stack, &["--acl", "/i/*", "--window", "600"]);
    let master = stack.get(&with_token(MASTER, &good));
    assert_eq!(master.status, 200, "{}", master.text());
    let set = master.header("set-cookie");
    assert_eq!(set, format!("hdnts={good}; Path=/; HttpOnly"));
    let variants = uris(&master.text());
    assert!(
        variants.iter().all(|u| !u.contains("hdnts")),
        "{variants:?}"
    );
    let cookie = format!("Cookie: hdnts={good}");
    let playlist_path = resolve(MASTER, &variants[0]);
    for round in ["MISS", "HIT"] {
        let r = request(stack.port, "GET", playlist_path.as_bytes(), &[&cookie]);
        assert_eq!(r.status, 200, "{round}");
        assert_eq!(r.header("x-casterpak-cache"), round);
        // The token came by cookie: no need to set it again.
        assert!(r.headers_named("set-cookie").is_empty());
    }
    let hit = stack.get(&with_token(MASTER, &good));
    assert_eq!(hit.header("x-casterpak-cache"), "HIT");
    assert_eq!(hit.header("set-cookie"), set);
    assert_refused(&stack, &playlist_path, &[], "no cookie");
}

#[test]
fn dash_manifests_hand_the_token_to_their_segment_templates() {
    let stack = protected_stack_over("query", "[\"/i/\", \"/c/\", \"/d/\"]");
    let good = token(&stack, &["--acl", "/*", "--window", "3600"]);
    let mpd = "/d/clip_low.mp4/manifest.mpd";
    assert_refused(&stack, mpd, &[], "MPD without a token");
    for round in ["MISS", "HIT"] {
        let r = stack.get(&with_token(mpd, &good));
        assert_eq!(r.status, 200, "{round}: {}", r.text());
        assert_eq!(r.header("x-casterpak-cache"), round);
        let text = r.text();
        let doc = roxmltree::Document::parse(&text).expect("still well-formed XML");
        let base = doc
            .descendants()
            .find(|n| n.has_tag_name("BaseURL"))
            .and_then(|n| n.text())
            .expect("BaseURL")
            .to_string();
        let templates: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("SegmentTemplate"))
            .collect();
        assert_eq!(templates.len(), 2, "{text}");
        for template in templates {
            for name in ["initialization", "media"] {
                let uri = template.attribute(name).expect(name);
                assert!(uri.ends_with(&format!("?hdnts={good}")), "{round}: {uri}");
                let path = resolve(&base, &uri.replace("$Number$", "1"));
                let got = stack.get(&path);
                assert_eq!(got.status, 200, "{round}: {path}: {}", got.text());
                assert_refused(&stack, without_query(&path), &[], "a segment without it");
            }
        }
    }
}

/// `propagation = "define"`: the worker writes HLS playlists that declare the token as
/// a variable (`#EXT-X-DEFINE:QUERYPARAM="hdnts"`) which every URI references, and a
/// player fills it in from the query of the playlist's own URL (done here as a player
/// does). nginx then serves a playlist as a plain file, the same bytes whichever token
/// comes (its length known, no body filter); MPDs keep the query rewriting.
#[test]
fn define_propagation_hands_the_token_on_as_a_playlist_variable() {
    let stack = protected_stack_over("define", "[\"/i/\", \"/d/\"]");
    let good = token(&stack, &["--acl", "/*", "--window", "600"]);
    let other = token(&stack, &["--acl", "/i/*", "--window", "900"]);
    let fill_in = |uri: &str, token: &str| uri.replace("{$hdnts}", token);
    let declared = "#EXTM3U\n#EXT-X-VERSION:11\n#EXT-X-DEFINE:QUERYPARAM=\"hdnts\"\n";
    let mut first = None;
    for round in ["MISS", "HIT"] {
        let r = stack.get(&with_token(MASTER, &good));
        assert_eq!(r.status, 200, "{round}: {}", r.text());
        assert_eq!(r.header("x-casterpak-cache"), round);
        let text = r.text();
        assert!(text.starts_with(declared), "{round}: {text}");
        assert!(!text.contains(&good), "{round}: the file holds no token");
        assert_eq!(
            r.header("content-length"),
            text.len().to_string(),
            "a plain file"
        );
        let listed = uris(&text);
        assert!(listed.len() >= 3, "{text}");
        for uri in &listed {
            assert!(uri.ends_with("?hdnts={$hdnts}"), "{round}: {uri}");
            let playlist_path = resolve(MASTER, &fill_in(uri, &good));
            let playlist = stack.get(&playlist_path);
            assert_eq!(playlist.status, 200, "{playlist_path}: {}", playlist.text());
            let playlist_text = playlist.text();
            assert!(playlist_text.starts_with(declared), "{playlist_text}");
            assert_refused(&stack, without_query(&playlist_path), &[], "no token");
            let segments = uris(&playlist_text);
            assert!(!segments.is_empty(), "{playlist_text}");
            for segment in segments.iter().take(2) {
                assert!(segment.ends_with("hdnts={$hdnts}"), "{segment}");
                let path = resolve(without_query(&playlist_path), &fill_in(segment, &good));
                let got = stack.get(&path);
                assert_eq!(got.status, 200, "{path}: {}", got.text());
                assert_refused(&stack, without_query(&path), &[], "a segment without it");
            }
        }
        first.get_or_insert(text);
    }
    // Another viewer's token: the same file.
    let again = stack.get(&with_token(MASTER, &other));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(Some(again.text()), first);
    assert_refused(&stack, MASTER, &[], "the master without a token");
    // DASH has no variables: its templates still get the token appended.
    let mpd = stack.get(&with_token("/d/clip_low.mp4/manifest.mpd", &good));
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    assert!(
        mpd.text().contains(&format!("?hdnts={good}\"")),
        "{}",
        mpd.text()
    );
}

/// `define_prefixes`: under them HLS playlists carry the variable, elsewhere nginx
/// appends the token as "query" says; a playlist written with the variable is not
/// rewritten again.
#[test]
fn define_prefixes_choose_the_variable_beside_query_propagation() {
    let stack = protected_builder("query", "[\"/i/\"]")
        .config("token_auth", "define_prefixes = [\"/i/clip_,low,\"]")
        .start();
    let good = token(&stack, &["--acl", "/i/*", "--window", "600"]);
    for round in ["MISS", "HIT"] {
        let defined = stack.get(&with_token(MASTER, &good)).text();
        assert!(
            defined.contains("#EXT-X-DEFINE:QUERYPARAM=\"hdnts\"\n"),
            "{defined}"
        );
        assert!(!defined.contains(&good), "{round}: {defined}");
        let appended = stack.get(&with_token("/i/clip_low.mp4/master.m3u8", &good));
        assert_eq!(appended.status, 200, "{}", appended.text());
        let appended = appended.text();
        assert!(!appended.contains("EXT-X-DEFINE"), "{appended}");
        for uri in uris(&appended) {
            assert!(uri.ends_with(&format!("hdnts={good}")), "{round}: {uri}");
        }
    }
}

/// Playlists are written for the propagation they are packaged under: a restart with
/// another (query to define and back) purges what the old and new define prefixes
/// cover before answering, so no playlist written the other way is served.
#[test]
fn a_change_of_propagation_repackages_the_playlists_it_covers() {
    let mut stack = protected_stack("query");
    let good = token(&stack, &["--acl", "/i/*", "--window", "600"]);
    let master = |stack: &Stack| {
        let r = stack.get(&with_token(MASTER, &good));
        assert_eq!(r.status, 200, "{}", r.text());
        (r.header("x-casterpak-cache").to_string(), r.text())
    };
    let (_, plain) = master(&stack);
    assert!(
        !plain.contains("EXT-X-DEFINE") && plain.contains(&good),
        "{plain}"
    );
    assert_eq!(master(&stack).0, "HIT");
    for (propagation, defined) in [("define", true), ("query", false)] {
        stack.reconfigure("token_auth", &format!("propagation = \"{propagation}\""));
        stack.stop_worker();
        stack.start_worker();
        stack.restart_nginx();
        let (cache, text) = master(&stack);
        assert_eq!(cache, "MISS", "{propagation}: repackaged");
        assert_eq!(
            text.contains("EXT-X-DEFINE"),
            defined,
            "{propagation}: {text}"
        );
        assert_eq!(text.contains(&good), !defined, "{propagation}: {text}");
    }
}
