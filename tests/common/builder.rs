//! What a test `Stack` is made of: media files, packaging mode, config lines.

use super::{media, Packaging, Stack};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a Stack is made of.
pub struct StackBuilder {
    pub(super) media: Vec<(String, PathBuf)>,
    pub(super) packaging: Packaging,
    /// TOML lines per section ("" is the top level).
    pub(super) config: BTreeMap<String, Vec<String>>,
}

impl StackBuilder {
    /// Puts test media file `name` into the media root under the same name.
    pub fn media(mut self, name: &str) -> Self {
        self.media.push((name.to_string(), media(name)));
        self
    }

    /// Puts any file into the media root as `as_name` (copied: a symlink to a file
    /// outside the root would rightly be refused).
    pub fn file_as(mut self, source: &Path, as_name: &str) -> Self {
        self.media.push((as_name.to_string(), source.to_path_buf()));
        self
    }

    pub fn packaging(mut self, packaging: Packaging) -> Self {
        self.packaging = packaging;
        self
    }

    /// Adds a TOML `line` to `section` ("limits", "cache", "" for the top level).
    pub fn config(mut self, section: &str, line: &str) -> Self {
        self.config
            .entry(section.to_string())
            .or_default()
            .push(line.to_string());
        self
    }

    pub fn start(self) -> Stack {
        Stack::start(self)
    }
}

pub(super) fn config_text(config: &BTreeMap<String, Vec<String>>) -> String {
    let mut text = String::new();
    for (section, lines) in config {
        if !section.is_empty() {
            text.push_str(&format!("\n[{section}]\n"));
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}
