//! The check nginx runs (`nginx/casterpak-token.lua`) and `src/token.rs` agree: thousands
//! of tokens (valid under either key, at the edges of their times, over ACLs that match
//! and miss, mutated, truncated, random) go through both, the Lua one in LuaJIT outside
//! nginx (`tests/lua/token-verdicts.lua`), and every verdict must be the same. And the
//! Lua playlist rewriting appends the token to exactly the URIs a plain reading of the
//! playlist finds (`tests/lua/propagate.lua`), CRLF, odd lines and all.

use casterpak::token;
use std::io::Write;
use std::process::{Command, Stdio};

const KEY: &str = "4c1f2b4e8a0d9c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e";
const ALTERNATE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const OTHER: &str = "00112233445566778899aabbccddeeff";

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Runs `tests/lua/<driver>` in LuaJIT over nginx's token script with `arg`, `input` on
/// its stdin; its stdout.
fn luajit(driver: &str, arg: &str, input: Vec<u8>) -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new("luajit")
        .arg(format!("{root}/tests/lua/{driver}"))
        .arg(format!("{root}/nginx/casterpak-token.lua"))
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run luajit (scripts/install-deps.sh --tests installs luajit2)");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "luajit {driver}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (now, path, token) cases: every kind of token the check meets.
fn cases() -> Vec<(u64, String, String)> {
    let acls = [
        "/i/*",
        "/i/clip_*!/i/nothing",
        "*",
        "/i/a.mp4/*",
        "/i/*/index*.m3u8",
        "/c/*!/d/*!/i/b*",
        "/i/a.mp4/index_0_av.m3u8",
    ];
    let paths = [
        "/i/a.mp4/index_0_av.m3u8",
        "/i/a.mp4/segment1_0_av.ts",
        "/i/clip_,low,.mp4.csmil/master.m3u8",
        "/i/b/index.m3u8",
        "/c/x.mp4/init.mp4",
        "/d/x.mp4/manifest.mpd",
        "/other/a.mp4/index_0_av.m3u8",
        "/",
    ];
    let keys = [KEY, ALTERNATE, OTHER];
    let alphabet: Vec<char> = "abcdef0123456789ABCDEFghxyz~=!*/_.-,;:%st"
        .chars()
        .collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    let start = 1_800_000_000u64;
    for i in 0..4000 {
        let key = token::decode_hex(rng.pick(&keys)).unwrap();
        let window = [1u64, 60, 3600][rng.below(3)];
        let good = token::make(&key, rng.pick(&acls), start, window);
        // Around both edges of the token's times, and inside.
        let now = [
            start - 1,
            start,
            start + window - 1,
            start + window,
            start + window / 2,
        ][rng.below(5)];
        let path = rng.pick(&paths).to_string();
        let text = match i % 8 {
            0..=2 => good,
            3 => {
                let mut chars: Vec<char> = good.chars().collect();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(chars.len());
                    chars[at] = alphabet[rng.below(alphabet.len())];
                }
                chars.into_iter().collect()
            }
            4 => good[..1 + rng.below(good.len() - 1)].to_string(),
            5 => {
                // Fields added, repeated or reordered, and the case of the signature.
                let (signed, hmac) = good.split_once("~hmac=").unwrap();
                let extra = rng.pick(&["~id=42", "~data=x", "~st=1", "~ip=1.2.3.4", "~", "~acl="]);
                match rng.below(4) {
                    0 => format!("{signed}{extra}~hmac={hmac}"),
                    1 => format!("{signed}~hmac={}", hmac.to_uppercase()),
                    2 => format!("{signed}~hmac={hmac}{extra}"),
                    _ => format!("exp=1{extra}~{signed}~hmac={hmac}"),
                }
            }
            6 => {
                // Signed by a key, fields of our choosing (id, data, no st, odd numbers).
                let fields = rng.pick(&[
                    "exp=1800003600~acl=/i/*",
                    "st=1799999999~exp=1800000001~acl=*~id=abc",
                    "st=0001800000000~exp=1800000060~acl=/i/*~data=d",
                    "st=1800000000~exp=99999999999999999999~acl=/i/*",
                    "st=~exp=1800000060~acl=/i/*",
                    "st=1800000000~exp=1800000060~acl=",
                    "st=1800000000~exp=1800000060",
                    "st=-1~exp=1800000060~acl=/i/*",
                    "id=1~id=2~exp=1800000060~acl=/i/*",
                ]);
                signed(&key, fields)
            }
            _ => (0..1 + rng.below(200))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect(),
        };
        out.push((now, path, text));
    }
    out
}

fn signed(key: &[u8], fields: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(fields.as_bytes());
    format!(
        "{fields}~hmac={}",
        token::encode_hex(&mac.finalize().into_bytes())
    )
}

#[test]
fn the_lua_check_and_the_rust_rules_agree_on_every_token() {
    let cases = cases();
    let keys = [KEY, ALTERNATE].map(|k| token::decode_hex(k).unwrap());
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut input = String::new();
    for (now, path, text) in &cases {
        // An empty token is "missing" to nginx and malformed to the parser: both refuse.
        assert!(!text.is_empty() && !text.contains(['\t', '\n']));
        input.push_str(&format!("{now}\t{path}\t{text}\n"));
    }
    let stdout = luajit(
        "token-verdicts.lua",
        &format!("{KEY},{ALTERNATE}"),
        input.into_bytes(),
    );
    let verdicts: Vec<&str> = std::str::from_utf8(&stdout).unwrap().lines().collect();
    assert_eq!(verdicts.len(), cases.len());
    let mut differ = Vec::new();
    let mut kinds = std::collections::BTreeMap::new();
    for ((now, path, text), lua) in cases.iter().zip(&verdicts) {
        let rust = match token::verify(text, path, *now, &key_refs) {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        };
        *kinds.entry(rust.clone()).or_insert(0) += 1;
        if rust != *lua {
            differ.push(format!(
                "{text:?} {path} at {now}: rust {rust:?}, lua {lua:?}"
            ));
        }
    }
    println!("verdicts: {kinds:?}");
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ[..differ.len().min(20)].join("\n")
    );
    // Every verdict occurs, so the cases reach every branch of both.
    for kind in [
        "",
        "malformed token",
        "bad token signature",
        "token not yet valid",
        "token expired",
        "token does not cover this path",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n >= 20),
            "{kind:?}: {kinds:?}"
        );
    }
}

/// The playlist as query propagation must leave it: `param` appended (`?`, or `&` after a
/// query) to every URI line and every complete `URI="…"` attribute of a tag line; every
/// other byte as it was, a line's `\r` kept at its end.
fn propagated(text: &str, param: &str) -> String {
    let with = |uri: &str| format!("{uri}{}{param}", if uri.contains('?') { '&' } else { '?' });
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let (body, cr) = match line.strip_suffix('\r') {
                Some(body) => (body, "\r"),
                None => (line, ""),
            };
            if body.is_empty() {
                return line.to_string();
            }
            if !body.starts_with('#') {
                return format!("{}{cr}", with(body));
            }
            let mut out = String::new();
            let mut rest = body;
            while let Some(at) = rest.find("URI=\"") {
                let open = at + 5;
                let Some(len) = rest[open..].find('"') else {
                    break;
                };
                out.push_str(&rest[..open]);
                out.push_str(&with(&rest[open..open + len]));
                rest = &rest[open + len..];
            }
            format!("{out}{rest}{cr}")
        })
        .collect();
    lines.join("\n")
}

#[test]
fn the_lua_playlist_rewriting_appends_the_token_to_every_uri_and_nothing_else() {
    let param = "hdnts=st=1~exp=2~acl=/i/*~hmac=ab%2C";
    let mut cases: Vec<String> = vec![
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:6.000,\nsegment1_0_av.ts\n#EXT-X-ENDLIST\n".into(),
        "#EXTM3U\r\n#EXTINF:6,\r\nsegment1_0_av.ts\r\n\r\nseg2.ts?sd=6\r\n".into(),
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"index_0_a2.m3u8\",NAME=\"fr\"\nindex_0_v.m3u8".into(),
        "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"iframes_0.m3u8?sd=6\"\n#EXT-X-MAP:URI=\"init.mp4\"".into(),
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key.key\",IV=0x1\n#EXT-X-KEY:URI=\"unterminated\n".into(),
        "#X:URI=\"a\",URI=\"b?c\",URI=\"\"\n\n\n?odd\n#\nlast-without-newline.ts".into(),
        String::new(),
        "\n".into(),
        "\r".into(),
        "a.ts".into(),
    ];
    // Random lines from the pieces playlists are made of.
    let pieces = [
        "#EXTINF:6.006,",
        "segment3_1_av.ts",
        "index_0_av.m3u8?start=12&end=40",
        "",
        "#EXT-X-MAP:URI=\"init_0_v.mp4\"",
        "#EXT-X-MEDIA:URI=\"a.m3u8\",X=\"y\"",
        "\r",
        "URI=\"not-a-tag.ts\"",
        "#EXT-X-ENDLIST",
        "#URI=\"",
        "x?y?z",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let n = rng.below(12);
        let lines: Vec<&str> = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
        let sep = if rng.below(2) == 0 { "\n" } else { "\r\n" };
        cases.push(lines.join(sep));
    }
    let mut input = Vec::new();
    for case in &cases {
        input.extend_from_slice(format!("{}\n{case}", case.len()).as_bytes());
    }
    let stdout = luajit("propagate.lua", param, input);
    let mut answers = Vec::new();
    let mut rest = stdout.as_slice();
    while !rest.is_empty() {
        let newline = rest
            .iter()
            .position(|&b| b == b'\n')
            .expect("a length line");
        let len: usize = std::str::from_utf8(&rest[..newline])
            .unwrap()
            .parse()
            .unwrap();
        let body = &rest[newline + 1..newline + 1 + len];
        answers.push(String::from_utf8(body.to_vec()).unwrap());
        rest = &rest[newline + 1 + len..];
    }
    assert_eq!(answers.len(), cases.len());
    for (case, lua) in cases.iter().zip(&answers) {
        assert_eq!(*lua, propagated(case, param), "for {case:?}");
    }
}
