//! The pointer on the canvas: hovering probes, one pointer drags (panning,
//! or setting the window), two pinch to zoom, and the wheel zooms about the
//! pointer.

use super::state::ViewerState;
use crate::view_transform::ZOOM_STEP;
use leptos::ev::PointerEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A mouse event's `client` or `offset` position in CSS pixels, with its
/// fraction: web-sys's own getters give whole pixels, which at 16x zoom
/// would miss the pixel under the pointer.
fn position(ev: &web_sys::MouseEvent, of: &str) -> (f64, f64) {
    let read = |axis: &str| {
        js_sys::Reflect::get(ev, &format!("{of}{axis}").into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or_default()
    };
    (read("X"), read("Y"))
}

/// Pointers down on the canvas (two make a pinch): id and last position.
#[derive(Clone, Copy, Default)]
pub struct Pointers(StoredValue<Vec<(i32, f64, f64)>>);

impl Pointers {
    pub fn down(self, viewer: ViewerState, ev: PointerEvent) {
        if let Some(c) = viewer.canvas.get_untracked() {
            let _ = c.set_pointer_capture(ev.pointer_id());
        }
        self.0.update_value(|p| {
            p.retain(|(id, ..)| *id != ev.pointer_id());
            let (x, y) = position(&ev, "client");
            p.push((ev.pointer_id(), x, y));
        });
    }

    pub fn moved(self, viewer: ViewerState, ev: PointerEvent) {
        let (x, y) = position(&ev, "client");
        let s = viewer.scale();
        let before = self.0.get_value();
        let Some(&(_, x0, y0)) = before.iter().find(|(id, ..)| *id == ev.pointer_id()) else {
            // Hovering: probe under the pointer.
            let (ox, oy) = position(&ev, "offset");
            viewer.probe_at(ox * s, oy * s);
            return;
        };
        self.0.update_value(|p| {
            if let Some(entry) = p.iter_mut().find(|(id, ..)| *id == ev.pointer_id()) {
                *entry = (ev.pointer_id(), x, y);
            }
        });
        match before.as_slice() {
            [a, b] => {
                let other = if a.0 == ev.pointer_id() { b } else { a };
                pinch(viewer, &ev, ((x0, y0), (x, y)), (other.1, other.2), s);
            }
            [_] if viewer.drag_sets_window.get_untracked() => viewer.drag_window((x - x0) * s, (y - y0) * s),
            [_] => viewer.pan_by((x - x0) * s, (y - y0) * s),
            _ => {}
        }
    }

    pub fn up(self, ev: PointerEvent) {
        self.0.update_value(|p| p.retain(|(id, ..)| *id != ev.pointer_id()));
    }

    pub fn none_down(self) -> bool {
        self.0.with_value(Vec::is_empty)
    }
}

/// Two fingers: the image point between them stays between them, scaled by
/// the change in their distance. `moved` is one finger's last and new
/// client position, `other` the other finger's; `scale` is canvas pixels
/// per CSS pixel.
fn pinch(viewer: ViewerState, ev: &PointerEvent, moved: ((f64, f64), (f64, f64)), other: (f64, f64), scale: f64) {
    let ((x0, y0), (x, y)) = moved;
    let distance = |x: f64, y: f64| ((x - other.0).powi(2) + (y - other.1).powi(2)).sqrt();
    let (before, after) = (distance(x0, y0), distance(x, y));
    if before > 0.0 && after > 0.0 {
        // The canvas' corner on screen, from this event's two positions.
        let (ox, oy) = position(ev, "offset");
        let (left, top) = (x - ox, y - oy);
        let middle = |x: f64, y: f64| {
            (
                ((x + other.0) / 2.0 - left) * scale,
                ((y + other.1) / 2.0 - top) * scale,
            )
        };
        let pinched = viewer
            .view
            .get_untracked()
            .pinched(after / before, middle(x0, y0), middle(x, y));
        viewer.set_view(pinched);
    }
}

/// The wheel zooms about the pointer. Listened to directly, not passively,
/// so that the page does not scroll as well.
pub fn zoom_on_wheel(viewer: ViewerState) {
    Effect::new(move |_| {
        let Some(canvas) = viewer.canvas.get() else { return };
        let on_wheel =
            wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::WheelEvent)>::new(move |ev: web_sys::WheelEvent| {
                ev.prevent_default();
                let s = viewer.scale();
                let factor = if ev.delta_y() < 0.0 { ZOOM_STEP } else { 1.0 / ZOOM_STEP };
                let (ox, oy) = position(&ev, "offset");
                viewer.set_view(viewer.view.get_untracked().zoomed(factor, ox * s, oy * s));
            });
        let options = web_sys::AddEventListenerOptions::new();
        options.set_passive(false);
        let _ = canvas.add_event_listener_with_callback_and_add_event_listener_options(
            "wheel",
            on_wheel.as_ref().unchecked_ref(),
            &options,
        );
        on_wheel.forget();
    });
}
