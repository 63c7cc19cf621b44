//! (being written) SCGI server.

use crate::config::Config;

/// Runs the worker until SIGTERM/SIGINT; returns the exit code.
pub fn run(_config: Config) -> i32 {
    eprintln!("casterpak: serve is not implemented yet");
    1
}
