//! The viewer's buttons: zoom, fit, 1:1, invert, a grey image's window
//! presets and what dragging does, and once the image is analysed, the
//! overlay's label, opacity and hold-to-hide.

use super::state::ViewerState;
use crate::app::AnalysisStatus;
use crate::app::heatmaps::OpacitySlider;
use crate::app::window_level::WindowPreset;
use crate::view_transform::ZOOM_STEP;
use leptos::prelude::*;

#[component]
pub fn ViewerToolbar(viewer: ViewerState) -> impl IntoView {
    let ViewerState {
        app,
        invert,
        drag_sets_window,
        levels,
        ..
    } = viewer;
    let analysed = move || matches!(app.analysis.get(), AnalysisStatus::Done { .. });
    view! {
        <Show when=move || app.preview.with(Option::is_some)>
            <div class="viewer-controls row" role="toolbar" aria-label="Viewer">
                <button type="button" class="small" data-testid="viewer-zoom-out" aria-label="Zoom out" on:click=move |_| viewer.zoom_by(1.0 / ZOOM_STEP)>"−"</button>
                <button type="button" class="small" data-testid="viewer-zoom-in" aria-label="Zoom in" on:click=move |_| viewer.zoom_by(ZOOM_STEP)>"+"</button>
                <button type="button" class="small" data-testid="viewer-fit" on:click=move |_| viewer.fit()>"Fit"</button>
                <button type="button" class="small" data-testid="viewer-actual" title="One image pixel per screen pixel (key 1)"
                    on:click=move |_| viewer.actual_size()>"1:1"</button>
                <label>
                    <input type="checkbox" data-testid="viewer-invert" prop:checked=move || invert.get()
                        on:change=move |ev| invert.set(event_target_checked(&ev))/>
                    " invert"
                </label>
                <WindowPreset levels=levels window=viewer.window/>
                <Show when=move || levels.with(Option::is_some)>
                    <button type="button" class="small" data-testid="viewer-drag-window"
                        aria-pressed=move || drag_sets_window.get().to_string()
                        title="Dragging sets the window: right widens, down raises the level (key W)"
                        on:click=move |_| viewer.toggle_drag_window()>"Drag: window"</button>
                </Show>
                <Show when=analysed>
                    <OverlayControls viewer=viewer/>
                </Show>
            </div>
        </Show>
    }
}

/// The labels with a heat map, by index, in label order.
fn labels_with_maps(viewer: ViewerState) -> Vec<(usize, String)> {
    let names = viewer.app.model_info().map(|i| i.labels).unwrap_or_default();
    let mut shown: Vec<(usize, String)> = viewer.app.heatmaps.with(|maps| {
        maps.iter()
            .filter_map(|(i, _)| names.get(*i).map(|n| (*i, n.clone())))
            .collect()
    });
    shown.sort();
    shown
}

/// Which label's heat map lies over the image, how strongly, and a button
/// held to see the image without it.
#[component]
fn OverlayControls(viewer: ViewerState) -> impl IntoView {
    let ViewerState {
        overlay_label,
        opacity,
        overlay_hidden,
        ..
    } = viewer;
    view! {
        <label>
            "Overlay "
            <select data-testid="viewer-overlay" on:change=move |ev| {
                overlay_label.set(event_target_value(&ev).parse::<usize>().ok());
            }>
                <option value="" selected=move || overlay_label.get().is_none()>"none"</option>
                <For each=move || labels_with_maps(viewer) key=|(i, _)| *i let:item>
                    <option value=item.0.to_string() selected=move || overlay_label.get() == Some(item.0)>{item.1}</option>
                </For>
            </select>
        </label>
        <OpacitySlider label="opacity " testid="viewer-opacity" opacity=opacity/>
        <button type="button" class="small" data-testid="viewer-flicker"
            title="Hold to see the image without the overlay (or hold H)"
            on:pointerdown=move |_| overlay_hidden.set(true)
            on:pointerup=move |_| overlay_hidden.set(false)
            on:pointerleave=move |_| overlay_hidden.set(false)
            on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == " " || ev.key() == "Enter" { overlay_hidden.set(true) }
            on:keyup=move |_| overlay_hidden.set(false)
        >"Hide overlay"</button>
    }
}
