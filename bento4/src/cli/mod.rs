//! Command-line parsing for the tools, pure (takes the argument list, returns a
//! typed request or a usage error); and the job format of `mp42hls --serve`.

pub mod mp42hls;
pub mod serve;
