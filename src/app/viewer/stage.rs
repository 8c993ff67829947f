//! The canvas the X-ray is drawn on, with its keys and pointer, and data
//! attributes that tell tests how it is shown.

use super::keys::{on_key_down, on_key_up};
use super::picture::{draw_on_change, picture};
use super::pointers::{Pointers, zoom_on_wheel};
use super::state::ViewerState;
use leptos::prelude::*;

#[component]
pub fn Stage(viewer: ViewerState) -> impl IntoView {
    let ViewerState {
        canvas,
        view,
        invert,
        overlay_hidden,
        window,
        drag_sets_window,
        probed,
        ..
    } = viewer;
    draw_on_change(viewer, picture(viewer));
    let pointers = Pointers::default();
    zoom_on_wheel(viewer);
    view! {
        <canvas
            node_ref=canvas
            class="viewer"
            class:window-drag=move || drag_sets_window.get()
            width="1"
            height="1"
            tabindex="0"
            aria-label="The X-ray being analysed. Plus and minus zoom, arrow keys pan, 0 fits, 1 shows it at 1:1, I inverts, W switches dragging between pan and window, hold H to hide the overlay. The value at the middle of the view is shown below."
            data-testid="viewer"
            data-zoom=move || view.get().zoom.to_string()
            data-x=move || view.get().x.to_string()
            data-y=move || view.get().y.to_string()
            data-invert=move || invert.get().to_string()
            data-overlay-hidden=move || overlay_hidden.get().to_string()
            data-window=move || window.get().map(|w| format!("{},{}", w.center, w.width)).unwrap_or_default()
            on:keydown=move |ev| on_key_down(viewer, ev)
            on:keyup=move |ev| on_key_up(viewer, ev)
            on:pointerdown=move |ev| pointers.down(viewer, ev)
            on:pointermove=move |ev| pointers.moved(viewer, ev)
            on:pointerup=move |ev| pointers.up(ev)
            on:pointercancel=move |ev| pointers.up(ev)
            on:pointerleave=move |_| if pointers.none_down() { probed.set(None) }
        ></canvas>
    }
}
