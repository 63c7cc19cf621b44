//! `[subtitles]`: sidecar WebVTT files offered beside a title (`playlist::subtitles`).

use super::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SubtitlesConfig {
    /// Languages looked for, in the master's order: `dir/title_<lang>.vtt` beside
    /// `dir/title.mp4`. Empty: no sidecar is looked for.
    pub languages: Vec<String>,
    /// The language whose first subtitle (sidecar or the title's own track) is marked
    /// `DEFAULT=YES`; empty: none is.
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
        // Not necessarily a sidecar language: a title's own text track may have it.
        let default = &self.default_language;
        if !default.is_empty() && !crate::playlist::subtitles::is_language(default) {
            return Err(ConfigError::Invalid {
                key: "subtitles.default_language",
                message: format!("{default:?} is not a language tag like \"en\""),
            });
        }
        Ok(())
    }
}
