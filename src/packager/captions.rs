//! Which CEA-608 captions a rendition's video carries, for its masters: asked of the
//! tool once per source identity (`mp42hls --captions` reads the first video samples),
//! local sources with our tools only; anything else is not known, and a master then
//! says nothing of captions rather than something wrong.

use super::Packager;
use crate::source::Source;
use crate::tool::output::Cea608;
use crate::tool::Mode;
use std::os::fd::AsFd;

impl Packager {
    /// The captions of `source` (`has_video`: its plan lists video), or `None` when
    /// not known.
    pub(super) async fn rendition_captions(
        &self,
        source: &Source,
        has_video: bool,
    ) -> Option<Cea608> {
        if !has_video {
            return Some(Cea608::default());
        }
        // A remote object's sample bytes are not all here, and real Bento4 cannot say.
        if self.tools.mode() != Mode::Jit || source.remote.is_some() {
            return None;
        }
        let known = {
            let map = self.captions.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&source.id.path)
                .filter(|(id, _)| *id == source.id)
                .map(|(_, c)| *c)
        };
        if known.is_some() {
            return known;
        }
        match self.tools.captions(source.file.as_fd()).await {
            Ok(found) => {
                let mut map = self.captions.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() >= super::MAX_KNOWN {
                    map.clear();
                }
                map.insert(source.id.path.clone(), (source.id.clone(), found));
                Some(found)
            }
            Err(e) => {
                log::warn!("captions of {}: not known: {e:?}", source.id.path);
                None
            }
        }
    }
}
