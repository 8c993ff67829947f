//! The viewer's keys, as the canvas' label lists them: plus and minus
//! zoom, arrows pan, 0 fits, 1 shows 1:1, I inverts, W switches what
//! dragging does, H held hides the overlay.

use super::state::ViewerState;
use crate::view_transform::{PAN_STEP, ZOOM_STEP};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

/// Does what `key` asks of the viewer; whether it asked anything.
fn act_on(viewer: ViewerState, key: &str) -> bool {
    match key {
        "+" | "=" => viewer.zoom_by(ZOOM_STEP),
        "-" | "_" => viewer.zoom_by(1.0 / ZOOM_STEP),
        "0" => viewer.fit(),
        "1" => viewer.actual_size(),
        // The arrow moves the view the way it points, as in image viewers.
        "ArrowLeft" => viewer.pan_by(PAN_STEP, 0.0),
        "ArrowRight" => viewer.pan_by(-PAN_STEP, 0.0),
        "ArrowUp" => viewer.pan_by(0.0, PAN_STEP),
        "ArrowDown" => viewer.pan_by(0.0, -PAN_STEP),
        "i" | "I" => viewer.invert.update(|i| *i = !*i),
        "h" | "H" => viewer.overlay_hidden.set(true),
        "w" | "W" if viewer.levels.with_untracked(Option::is_some) => viewer.toggle_drag_window(),
        _ => return false,
    }
    true
}

pub fn on_key_down(viewer: ViewerState, ev: KeyboardEvent) {
    if act_on(viewer, ev.key().as_str()) {
        ev.prevent_default();
        // Keyboard users probe the middle of the view.
        let (w, h) = viewer.size();
        viewer.probe_at(w / 2.0, h / 2.0);
    }
}

pub fn on_key_up(viewer: ViewerState, ev: KeyboardEvent) {
    if matches!(ev.key().as_str(), "h" | "H") {
        viewer.overlay_hidden.set(false);
    }
}
