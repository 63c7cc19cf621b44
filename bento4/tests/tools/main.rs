//! The tools' integration tests (mp4info, mp42hls in every mode), one module per
//! subject, in one test binary: one link instead of one per file.

mod cmaf;
mod cmaf_cbcs;
#[path = "../crafted_media/mod.rs"]
mod crafted_media;
mod mp42hls_codecs;
mod mp42hls_crafted;
mod mp42hls_cuts;
mod mp42hls_disk;
mod mp42hls_errors;
mod mp42hls_modes;
mod mp42hls_serve;
mod mp42hls_stream;
#[path = "../mp42hls_support/mod.rs"]
mod mp42hls_support;
mod mp42hls_trim;
mod mp4info;
