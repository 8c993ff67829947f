//! The backbone passes the worker keeps for heat maps: the last analysis of
//! the image in view and the last of the batch, each in its own slot, so
//! that a batch running beside the image in view never replaces the pass
//! that image's heat maps come from (and the batch still gets its own).

use chexlens_web::protocol::FIRST_BATCH_ID;
use std::rc::Rc;

/// One kept pass per lane, with the analysis id it belongs to.
pub struct KeptPasses<T> {
    in_view: Option<(u32, Rc<T>)>,
    batch: Option<(u32, Rc<T>)>,
}

impl<T> Default for KeptPasses<T> {
    fn default() -> Self {
        Self {
            in_view: None,
            batch: None,
        }
    }
}

impl<T> KeptPasses<T> {
    fn lane(&mut self, id: u32) -> &mut Option<(u32, Rc<T>)> {
        if id >= FIRST_BATCH_ID {
            &mut self.batch
        } else {
            &mut self.in_view
        }
    }

    /// Keeps analysis `id`'s pass in place of its lane's last one.
    pub fn keep(&mut self, id: u32, pass: T) {
        *self.lane(id) = Some((id, Rc::new(pass)));
    }

    /// Analysis `id`'s pass, while a newer analysis of its lane has not replaced it.
    pub fn get(&self, id: u32) -> Option<Rc<T>> {
        let lane = if id >= FIRST_BATCH_ID {
            &self.batch
        } else {
            &self.in_view
        };
        lane.as_ref()
            .filter(|(kept, _)| *kept == id)
            .map(|(_, pass)| pass.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_never_replaces_the_pass_of_the_image_in_view() {
        let mut kept = KeptPasses::default();
        kept.keep(3, "image in view");
        kept.keep(FIRST_BATCH_ID, "first batch image");
        kept.keep(FIRST_BATCH_ID + 1, "second batch image");
        assert_eq!(kept.get(3).as_deref(), Some(&"image in view"));
        assert_eq!(kept.get(FIRST_BATCH_ID + 1).as_deref(), Some(&"second batch image"));
        assert_eq!(kept.get(FIRST_BATCH_ID), None, "replaced by the next batch image");
        kept.keep(4, "next image in view");
        assert_eq!(kept.get(3), None);
        assert_eq!(kept.get(4).as_deref(), Some(&"next image in view"));
        assert_eq!(kept.get(FIRST_BATCH_ID + 1).as_deref(), Some(&"second batch image"));
    }
}
