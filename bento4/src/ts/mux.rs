//! Segment writer (in progress).
