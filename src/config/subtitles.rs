//! `[subtitles]`: sidecar WebVTT files offered beside a title (`playlist::subtitles`);
//! a request's `subtitle_*` query overrides the naming (`url::query::sidecar`).

use super::ConfigError;
pub use crate::url::query::sidecar::FilePattern;
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
    /// MSOD's sidecar naming: `dir/<identifier>_<lang>.vtt` (`identifier_lang`, the
    /// default) or `dir/<lang>_<identifier>.vtt` (`lang_identifier`).
    pub file_pattern: FilePattern,
    /// Languages whose subtitles are forced narrative (`FORCED=YES`: shown when the
    /// audio is in that language and no subtitles were chosen).
    pub forced_languages: Vec<String>,
}

impl SubtitlesConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| {
            Err(ConfigError::Invalid {
                key: "subtitles.languages",
                message,
            })
        };
        for language in self.languages.iter().chain(&self.forced_languages) {
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
