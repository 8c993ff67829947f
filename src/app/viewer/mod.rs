//! The X-ray as a viewer: zoom (wheel, pinch, buttons, + and -), pan (drag,
//! arrow keys), fit, 1:1 (one image pixel per screen pixel), invert,
//! window/level on a grey image's full-depth values (drag in window mode,
//! presets, typed values), a pixel probe, and one label's heat map over
//! it, drawn through the same transform so that it stays on the anatomy it
//! marks. Holding "Hide overlay" (or the H key) flickers between image and
//! overlay; the overlay's opacity stays. Display only: the analysis never
//! changes.

mod keys;
mod picture;
mod pointers;
mod probe;
mod stage;
mod state;
mod toolbar;

use super::AppState;
use super::window_level::WindowLevel;
use leptos::prelude::*;
use probe::ProbeReadout;
use stage::Stage;
use state::ViewerState;
use toolbar::ViewerToolbar;

/// The toolbar, window/level, the canvas and the probe's line, over one
/// [`ViewerState`].
#[component]
pub fn Viewer() -> impl IntoView {
    let app = expect_context::<AppState>();
    let viewer = ViewerState::new(app);
    // A new image starts afresh (see `ViewerState::reset`).
    Effect::new(move |_| {
        app.preview.track();
        viewer.reset();
    });
    // The toolbar and the image fill a frame of the window's height, so
    // that the whole X-ray is on the first screen; typed window values and
    // the probe's line follow below it.
    view! {
        <div class="viewer-frame">
            <ViewerToolbar viewer=viewer/>
            <div class="stage">
                <Stage viewer=viewer/>
            </div>
        </div>
        <ProbeReadout probed=viewer.probed/>
        <WindowLevel levels=viewer.levels window=viewer.window/>
    }
}
