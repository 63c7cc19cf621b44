//! `[audio]`: how a title with several audio tracks is offered (`playlist::audio`).

use super::ConfigError;
use serde::Deserialize;

/// Which rendition of a csmil the audio renditions come from.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupFrom {
    /// The first rendition (in URL order) with several audio tracks.
    #[default]
    First,
    /// The rendition with the highest bit rate among those with several.
    Highest,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// The language whose track is `DEFAULT=YES` in each group when the title has
    /// it (BCP 47 or ISO 639-2, "fr" or "fra"); empty: each group's first track.
    pub default_language: String,
    pub group_from: GroupFrom,
    /// MSOD's audio-only variant: masters also list the audio alone of their lowest
    /// rendition.
    pub audio_only_variant: bool,
}

impl AudioConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let language = &self.default_language;
        if !language.is_empty() && !crate::playlist::subtitles::is_language(language) {
            return Err(ConfigError::Invalid {
                key: "audio.default_language",
                message: format!("{language:?} is not a language tag like \"en\" or \"fra\""),
            });
        }
        Ok(())
    }

    /// The preferred language, if one is configured.
    pub fn preferred(&self) -> Option<&str> {
        Some(self.default_language.as_str()).filter(|l| !l.is_empty())
    }
}
