//! `[subtitles]`: sidecar WebVTT files offered beside a title (`playlist::subtitles`).

use super::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SubtitlesConfig {
    /// Languages looked for, in the master's order: `dir/title_<lang>.vtt` beside
    /// `dir/title.mp4`. Empty: no sidecar is looked for.
    pub languages: Vec<String>,
    /// The language marked `DEFAULT=YES` when the title has it; empty: none is.
    pub default_language: String,
}

impl SubtitlesConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| {
            Err(ConfigError::Invalid {
                key: "subtitles.languages",
                message,
            })
        };
        for language in &self.languages {
            if !crate::playlist::subtitles::is_language(language) {
                return invalid(format!(
                    "{language:?} is not a language tag like \"en\" or \"pt-BR\""
                ));
            }
        }
        if !self.default_language.is_empty() && !self.languages.contains(&self.default_language) {
            return Err(ConfigError::Invalid {
                key: "subtitles.default_language",
                message: "must be one of subtitles.languages".into(),
            });
        }
        Ok(())
    }
}
