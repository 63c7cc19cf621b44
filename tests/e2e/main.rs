//! The worker's end-to-end tests, one module per subject, in one test binary: one
//! link instead of one per file, and every file's tests share the test threads.
//! `ops.rs` and `connections.rs` stay their own binaries: they change this process's
//! descriptor limit, which every concurrent test would feel.

mod audio;
mod captions;
mod clip;
mod cmaf;
mod cmaf_audio;
#[path = "../common/mod.rs"]
mod common;
mod crafted;
#[path = "../../bento4/tests/crafted_media/mod.rs"]
mod crafted_media;
mod crash;
mod encryption;
mod forms;
mod freshness;
mod hostile;
mod iframes;
mod limits;
mod live;
mod live_token;
mod methods;
mod nginx_conf;
mod origin;
mod pool;
mod purge;
mod race;
mod record_store;
mod remote_errors;
mod remote_http;
mod remote_origins;
mod remote_s3;
mod remote_sweep;
mod remote_whole;
mod shutdown;
mod source_io;
mod subtitle_changes;
mod subtitle_dash;
mod subtitle_naming;
mod subtitle_ttml;
mod subtitles;
mod sweep;
mod token;
mod token_lua;
