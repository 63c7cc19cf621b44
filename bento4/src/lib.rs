//! Our implementation of Bento4's `mp4info` and `mp42hls`, written from ISO/IEC
//! 14496-12/-14/-15, ISO/IEC 13818-1 and RFC 8216. The modules below `media` are
//! pure (no I/O); `source` is the one edge that reads files.

pub mod aes;
pub mod captions;
pub mod cli;
pub mod cmaf;
pub mod error;
pub mod hls;
pub mod info;
pub mod lru;
pub mod media;
pub mod mp4;
pub mod mux;
pub mod plan;
pub mod segmenter;
pub mod source;
pub mod text;
pub mod ts;
