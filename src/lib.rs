//! casterpak: a caching HLS packaging origin. nginx serves every cached file; this
//! worker only sees misses (over SCGI), fills the cache by running the Bento4-style
//! tools, and answers with `X-Accel-Redirect`. See ARCHITECTURE.md for the map.

pub mod cache;
pub mod cli;
pub mod config;
pub mod control;
pub mod disk_space;
pub mod entry;
pub mod error;
pub mod flight;
pub mod freshness;
pub mod hitlog;
pub mod input_cache;
pub mod live;
pub mod metrics;
pub mod mpd;
pub mod nginx_conf;
pub mod packager;
pub mod playlist;
pub mod purge;
pub mod remote;
pub mod server;
pub mod source;
pub mod store;
pub mod sweep;
pub mod token;
pub mod tool;
pub mod url;
