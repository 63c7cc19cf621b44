//! The check nginx runs (`nginx/casterpak-token.lua`) and `src/token.rs` agree: thousands
//! of tokens (valid under either key, at the edges of their times, over ACLs that match
//! and miss, mutated, truncated, random) go through both, the Lua one in LuaJIT outside
//! nginx (`tests/lua/token-verdicts.lua`), and every verdict must be the same.

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
    let root = env!("CARGO_MANIFEST_DIR");
    let cases = cases();
    let keys = [KEY, ALTERNATE].map(|k| token::decode_hex(k).unwrap());
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut child = Command::new("luajit")
        .arg(format!("{root}/tests/lua/token-verdicts.lua"))
        .arg(format!("{root}/nginx/casterpak-token.lua"))
        .arg(format!("{KEY},{ALTERNATE}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run luajit (scripts/install-deps.sh --tests installs luajit2)");
    let mut input = String::new();
    for (now, path, text) in &cases {
        // An empty token is "missing" to nginx and malformed to the parser: both refuse.
        assert!(!text.is_empty() && !text.contains(['\t', '\n']));
        input.push_str(&format!("{now}\t{path}\t{text}\n"));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "luajit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
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
