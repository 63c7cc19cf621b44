//! The SCGI header parser on arbitrary bytes: never panics, never claims more
//! bytes than it was given.
#![no_main]

use casterpak::server::scgi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((headers, used))) = scgi::parse(data) {
        assert!(used <= data.len());
        let _ = headers.get("REQUEST_URI");
    }
});
