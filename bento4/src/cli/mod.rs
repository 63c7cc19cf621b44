//! Command-line parsing for the tools, pure (takes the argument list, returns a
//! typed request or a usage error).

pub mod mp42hls;
