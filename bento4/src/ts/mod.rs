//! MPEG-2 transport stream writing (ISO/IEC 13818-1), pure: every function here fills
//! byte buffers and never touches a file.
//!
//! The layout rules live in [`packet`] (how a PES becomes 188-byte packets) so that
//! the segment planner can compute exact file sizes from sample sizes alone.

pub mod adts;
pub mod annexb;
pub mod packet;
pub mod pes;
pub mod psi;
