//! The request URI parser on arbitrary bytes: never panics, and whatever it
//! accepts is a plain relative path (no `.`/`..`/empty components, no NUL).
#![no_main]

use casterpak::url::{self, Container};
use libfuzzer_sys::fuzz_target;

fn plain(path: &str) {
    assert!(!path.starts_with('/'), "{path:?}");
    assert!(!path.contains('\0') && !path.contains('\\'), "{path:?}");
    for c in path.split('/') {
        assert!(!c.is_empty() && c != "." && c != "..", "{path:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = url::keys_for_hit(data, "/i", 4096);
    if let Ok(request) = url::parse(data, "/i", 4096) {
        plain(&request.file_key);
        match &request.container {
            Container::Single(r) => {
                plain(&r.source);
                plain(&r.key);
            }
            Container::Csmil { key, renditions } => {
                plain(key);
                for r in renditions {
                    plain(&r.source);
                    plain(&r.key);
                    assert!(!r.name.contains('/'));
                }
            }
        }
        // What we redirect to must parse back to the same file.
        let again = url::parse(format!("/{}", url::encode_path(&request.file_key)).as_bytes(), "/i", 1 << 20)
            .expect("encoded key parses");
        assert_eq!(again.file_key, request.file_key);
    }
});
