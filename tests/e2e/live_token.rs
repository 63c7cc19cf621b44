//! Viewer tokens (`[token_auth]`) over live streams and recordings: a publisher needs only
//! its ingest credential, a viewer a token, and the playlists no packager wrote (the
//! publisher's, the recorder's) hand it on to their segments as "query" does, whatever
//! the propagation (they cannot carry the define mode's variable), or by the cookie.

use crate::common::*;
use crate::live::{bearer, live_builder, record, send, started_id};
use std::path::Path;

const KEY: &str = "00112233445566778899aabbccddeeff";

/// Four TS packets: what a viewer must get back as written.
fn segment() -> Vec<u8> {
    vec![0x47u8; 188 * 4]
}

/// A live stack whose viewers need a token under `protect`, handed on by `propagation`.
fn protected_live(sockets: &Path, propagation: &str, protect: &str) -> Stack {
    let script = format!("{}/nginx/casterpak-token.lua", env!("CARGO_MANIFEST_DIR"));
    live_builder(sockets, &[])
        .config("token_auth", &format!("key = \"{KEY}\""))
        .config("token_auth", &format!("protect = {protect}"))
        .config("token_auth", &format!("propagation = \"{propagation}\""))
        .config("token_auth", &format!("script = {script:?}"))
        .start()
}

/// Publishes `index0.ts` and a playlist listing it on `stream`, with the credential.
fn publish_one(stack: &Stack, stream: &str) {
    let playlist = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nindex0.ts\n";
    let auth = bearer();
    for (file, body) in [("index0.ts", segment()), ("index.m3u8", playlist.to_vec())] {
        let path = format!("/live/{stream}/{file}");
        let status = send(stack.port, "PUT", path.as_bytes(), &[&auth], &body);
        assert!([201, 204].contains(&status), "PUT {path}: {status}");
    }
}

/// A viewer's token for `acl`, from `casterpak token`.
fn viewer_token(stack: &Stack, acl: &str) -> String {
    let out = stack.casterpak(&["token", "--acl", acl, "--window", "600"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn viewer_tokens_protect_live_and_publishers_need_only_their_credential() {
    for propagation in ["query", "define", "cookie"] {
        let sockets = tempfile::tempdir().expect("tempdir");
        let stack = protected_live(sockets.path(), propagation, "[\"/live/\"]");
        publish_one(&stack, "s1");
        let without = send(stack.port, "PUT", b"/live/s1/index1.ts", &[], &segment());
        assert_eq!(without, 401, "{propagation}");
        let viewer = viewer_token(&stack, "/live/*");
        let refused = stack.get("/live/s1/index.m3u8").status;
        assert_eq!(refused, 403, "{propagation}");
        let r = stack.get(&format!("/live/s1/index.m3u8?hdnts={viewer}"));
        assert_eq!(r.status, 200, "{propagation}: {}", r.text());
        let text = r.text();
        let uris: Vec<String> = segments(&text).into_iter().map(|(_, u)| u).collect();
        if propagation == "cookie" {
            assert_eq!(uris, ["index0.ts"], "{text}");
            let cookie = format!("hdnts={viewer}; Path=/; HttpOnly");
            assert_eq!(r.header("set-cookie"), cookie);
            let sent = format!("Cookie: hdnts={viewer}");
            let got = request(stack.port, "GET", b"/live/s1/index0.ts", &[&sent]);
            assert_eq!(got.status, 200, "{propagation}");
        } else {
            let expected = format!("index0.ts?hdnts={viewer}");
            assert_eq!(uris, [expected], "{propagation}: {text}");
            let got = stack.get(&format!("/live/s1/{}", uris[0]));
            assert_eq!(got.status, 200, "{propagation}");
            assert_eq!(got.body, segment(), "{propagation}: the segment as written");
        }
        let bare = stack.get("/live/s1/index0.ts").status;
        assert_eq!(bare, 403, "{propagation}");
    }
}

#[test]
fn a_recording_hands_the_viewer_token_on_under_define_propagation() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let stack = protected_live(sockets.path(), "define", "[\"/i/\", \"/live/\"]");
    publish_one(&stack, "r1");
    let id = started_id(&record(&stack, &["start", "r1", "--from", "-8s"]));
    record(&stack, &["stop", &id]);
    let viewer = viewer_token(&stack, "/i/*");
    let path = format!("/i/recordings/{id}/index_0_av.m3u8");
    assert_eq!(stack.get(&path).status, 403);
    let r = stack.get(&format!("{path}?hdnts={viewer}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(!text.contains("EXT-X-DEFINE"), "{text}");
    let uris: Vec<String> = segments(&text).into_iter().map(|(_, u)| u).collect();
    assert_eq!(uris.len(), 1, "{text}");
    assert!(uris[0].ends_with(&format!("?hdnts={viewer}")), "{text}");
    let got = stack.get(&format!("/i/recordings/{id}/{}", uris[0]));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, segment());
}
