//! The X-ray as a viewer: zoom (wheel, pinch, buttons, + and -), pan (drag,
//! arrow keys), fit, 1:1 (one image pixel per screen pixel), invert,
//! window/level on a grey image's full-depth values (drag in window mode,
//! presets, typed values), a pixel probe, and one label's heat map over
//! it, drawn through the same transform so that it stays on the anatomy it
//! marks. Holding "Hide overlay" (or the H key) flickers between image and
//! overlay; the overlay's opacity stays. Display only: the analysis never
//! changes.

use super::heatmaps::{OpacitySlider, composite, put_pixels};
use super::window_level::{WindowLevel, starting_window};
use super::{AnalysisStatus, AppState, Levels, Preview};
use chexlens_images::levels::LevelsSource;
use chexlens_images::window::Window;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

const MIN_ZOOM: f64 = 1.0;
const MAX_ZOOM: f64 = 16.0;
/// Zoom steps double or halve, so that preview pixels stay whole canvas pixels.
const ZOOM_STEP: f64 = 2.0;
/// Canvas pixels an arrow key moves the image.
const PAN_STEP: f64 = 32.0;

/// Zoom (1: the whole image) and the image's top-left corner in canvas pixels.
#[derive(Clone, Copy, PartialEq, Debug)]
struct View {
    zoom: f64,
    x: f64,
    y: f64,
}

impl View {
    const FIT: Self = Self {
        zoom: 1.0,
        x: 0.0,
        y: 0.0,
    };

    /// Keeps the image covering the canvas: no empty margin at any zoom.
    fn clamped(self, width: f64, height: f64) -> Self {
        let zoom = self.zoom.clamp(MIN_ZOOM, MAX_ZOOM);
        let limit = |offset: f64, side: f64| offset.clamp(side - side * zoom, 0.0).round();
        Self {
            zoom,
            x: limit(self.x, width),
            y: limit(self.y, height),
        }
    }

    /// Zoomed by `factor` about canvas point (`cx`, `cy`), which stays put.
    fn zoomed(self, factor: f64, cx: f64, cy: f64) -> Self {
        let zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let ratio = zoom / self.zoom;
        Self {
            zoom,
            x: cx - (cx - self.x) * ratio,
            y: cy - (cy - self.y) * ratio,
        }
    }
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

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

/// The preview with its grey values redrawn through `window`.
fn windowed(preview: &Preview, levels: &Levels, window: &Window) -> Preview {
    let grey = levels.preview.render(window);
    Preview {
        width: preview.width,
        height: preview.height,
        rgba: grey.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        source_width: preview.source_width,
        levels: preview.levels.clone(),
    }
}

/// What the pixel probe says about the image pixel under a point.
#[derive(Clone, Debug, PartialEq)]
struct Probe {
    x: usize,
    y: usize,
    text: String,
    stored: Option<i32>,
    modality: Option<f64>,
}

/// The image pixel under canvas point (`cx`, `cy`) and its values: stored
/// (and modality, for DICOM) where the full-depth values are at hand,
/// else the preview's colour.
fn probe(preview: &Preview, view: View, cx: f64, cy: f64) -> Option<Probe> {
    let (px, py) = ((cx - view.x) / view.zoom, (cy - view.y) / view.zoom);
    let (pw, ph) = (preview.width as f64, preview.height as f64);
    if !(0.0..pw).contains(&px) || !(0.0..ph).contains(&py) {
        return None;
    }
    let Some(levels) = &preview.levels else {
        let source_height = (preview.source_width as f64 * ph / pw).round();
        let (x, y) = (
            (px * preview.source_width as f64 / pw) as usize,
            (py * source_height / ph) as usize,
        );
        let i = (py as usize * preview.width + px as usize) * 4;
        let [r, g, b] = [preview.rgba[i], preview.rgba[i + 1], preview.rgba[i + 2]];
        return Some(Probe {
            x,
            y,
            text: format!(
                "x {x}, y {y}: shown as R {r}, G {g}, B {b} (colour images have no stored values to show here)"
            ),
            stored: None,
            modality: None,
        });
    };
    let info = &levels.full.info;
    let (x, y) = (
        (px * info.width as f64 / pw) as usize,
        (py * info.height as f64 / ph) as usize,
    );
    let stored = levels.full.stored(x, y)?;
    let (text, modality) = match info.source {
        LevelsSource::Dicom => {
            let modality = levels.full.modality(stored);
            let unit = info.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            (
                format!("x {x}, y {y}: stored {stored}, modality {modality}{unit}"),
                Some(modality),
            )
        }
        LevelsSource::Raster => (format!("x {x}, y {y}: value {stored} ({}-bit)", info.bits_stored), None),
    };
    Some(Probe {
        x,
        y,
        text,
        stored: Some(stored),
        modality,
    })
}

#[component]
pub fn Viewer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let view = RwSignal::new(View::FIT);
    let invert = RwSignal::new(false);
    let overlay_label = RwSignal::new(None::<usize>);
    let opacity = RwSignal::new(0.5f32);
    let overlay_hidden = RwSignal::new(false);
    let window = RwSignal::new(None::<Window>);
    let drag_sets_window = RwSignal::new(false);
    let probed = RwSignal::new(None::<Probe>);
    let levels = Memo::new(move |_| state.preview.with(|p| p.as_ref().and_then(|p| p.levels.clone())));
    // The preview-sized picture: recomputed only when what it shows changes,
    // not when the view moves.
    let picture = Memo::new(move |_| {
        let preview = state.preview.get()?;
        let preview = match (levels.get(), window.get()) {
            (Some(levels), Some(window)) => windowed(&preview, &levels, &window),
            _ => preview,
        };
        let label = if overlay_hidden.get() {
            None
        } else {
            overlay_label.get()
        };
        let map = label.and_then(|l| {
            state
                .heatmaps
                .with(|maps| maps.iter().find(|(i, _)| *i == l).map(|(_, m)| m.clone()))
        });
        Some((
            composite(&preview, map.as_ref(), opacity.get(), invert.get()),
            preview.width,
            preview.height,
        ))
    });
    let source: StoredValue<Option<HtmlCanvasElement>, LocalStorage> = StoredValue::new_local(None);

    // A new image starts fitted, as analysed, without an overlay.
    Effect::new(move |_| {
        state.preview.track();
        view.set(View::FIT);
        overlay_label.set(None);
        window.set(None);
        probed.set(None);
        if levels.with_untracked(Option::is_none) {
            drag_sets_window.set(false);
        }
    });
    // Drawn with the view's transform, nearest-neighbour, so that each
    // preview pixel is a block of whole canvas pixels.
    Effect::new(move |_| {
        let v = view.get();
        let Some(canvas) = canvas_ref.get() else { return };
        picture.with(|picture| {
            let Some((rgba, width, height)) = picture else { return };
            let document = web_sys::window().and_then(|w| w.document());
            let offscreen = source
                .get_value()
                .or_else(|| document?.create_element("canvas").ok()?.dyn_into().ok());
            let Some(offscreen) = offscreen else { return };
            put_pixels(&offscreen, rgba, *width, *height);
            canvas.set_width(*width as u32);
            canvas.set_height(*height as u32);
            if let Some(ctx) = context(&canvas) {
                ctx.set_image_smoothing_enabled(false);
                let _ = ctx.set_transform(v.zoom, 0.0, 0.0, v.zoom, v.x, v.y);
                let _ = ctx.draw_image_with_html_canvas_element(&offscreen, 0.0, 0.0);
            }
            source.set_value(Some(offscreen));
        });
    });

    let size = move || {
        state
            .preview
            .with(|p| p.as_ref().map_or((1.0, 1.0), |p| (p.width as f64, p.height as f64)))
    };
    let set_view = move |next: View| {
        let (w, h) = size();
        view.set(next.clamped(w, h));
    };
    let zoom_by = move |factor: f64| {
        let (w, h) = size();
        set_view(view.get_untracked().zoomed(factor, w / 2.0, h / 2.0));
    };
    let pan_by = move |dx: f64, dy: f64| {
        let v = view.get_untracked();
        set_view(View {
            x: v.x + dx,
            y: v.y + dy,
            ..v
        });
    };
    // One pixel of the image per CSS pixel, about the centre (never below fit).
    let actual_size = move || {
        let (Some(canvas), Some(source)) = (
            canvas_ref.get_untracked(),
            state.preview.with_untracked(|p| p.as_ref().map(|p| p.source_width)),
        ) else {
            return;
        };
        let factor = source as f64 / f64::from(canvas.client_width().max(1)) / view.get_untracked().zoom;
        zoom_by(factor);
    };
    // Canvas pixels per CSS pixel of the element as shown.
    let scale = move || {
        canvas_ref
            .get_untracked()
            .map_or(1.0, |c| c.width() as f64 / f64::from(c.client_width().max(1)))
    };
    let probe_at = move |cx: f64, cy: f64| {
        let found = state
            .preview
            .with_untracked(|p| p.as_ref().and_then(|p| probe(p, view.get_untracked(), cx, cy)));
        probed.set(found);
    };
    // Pointers down on the canvas (two make a pinch): id and last position.
    let pointers = StoredValue::new(Vec::<(i32, f64, f64)>::new());
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let handled = match ev.key().as_str() {
            "+" | "=" => {
                zoom_by(ZOOM_STEP);
                true
            }
            "-" | "_" => {
                zoom_by(1.0 / ZOOM_STEP);
                true
            }
            "0" => {
                view.set(View::FIT);
                true
            }
            "1" => {
                actual_size();
                true
            }
            // The arrow moves the view the way it points, as in image viewers.
            "ArrowLeft" => {
                pan_by(PAN_STEP, 0.0);
                true
            }
            "ArrowRight" => {
                pan_by(-PAN_STEP, 0.0);
                true
            }
            "ArrowUp" => {
                pan_by(0.0, PAN_STEP);
                true
            }
            "ArrowDown" => {
                pan_by(0.0, -PAN_STEP);
                true
            }
            "i" | "I" => {
                invert.update(|i| *i = !*i);
                true
            }
            "h" | "H" => {
                overlay_hidden.set(true);
                true
            }
            "w" | "W" if levels.with_untracked(Option::is_some) => {
                drag_sets_window.update(|w| *w = !*w);
                true
            }
            _ => false,
        };
        if handled {
            ev.prevent_default();
            // Keyboard users probe the middle of the view.
            let (w, h) = size();
            probe_at(w / 2.0, h / 2.0);
        }
    };
    let on_key_up = move |ev: leptos::ev::KeyboardEvent| {
        if matches!(ev.key().as_str(), "h" | "H") {
            overlay_hidden.set(false);
        }
    };
    // The wheel zooms about the pointer. Listened to directly, not passively,
    // so that the page does not scroll as well.
    Effect::new(move |_| {
        let Some(canvas) = canvas_ref.get() else { return };
        let on_wheel =
            wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::WheelEvent)>::new(move |ev: web_sys::WheelEvent| {
                ev.prevent_default();
                let s = scale();
                let factor = if ev.delta_y() < 0.0 { ZOOM_STEP } else { 1.0 / ZOOM_STEP };
                set_view(view.get_untracked().zoomed(
                    factor,
                    position(&ev, "offset").0 * s,
                    position(&ev, "offset").1 * s,
                ));
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
    let on_pointer_down = move |ev: leptos::ev::PointerEvent| {
        if let Some(c) = canvas_ref.get_untracked() {
            let _ = c.set_pointer_capture(ev.pointer_id());
        }
        pointers.update_value(|p| {
            p.retain(|(id, ..)| *id != ev.pointer_id());
            let (x, y) = position(&ev, "client");
            p.push((ev.pointer_id(), x, y));
        });
    };
    let on_pointer_move = move |ev: leptos::ev::PointerEvent| {
        let (x, y) = position(&ev, "client");
        let s = scale();
        let before = pointers.get_value();
        let Some(&(_, x0, y0)) = before.iter().find(|(id, ..)| *id == ev.pointer_id()) else {
            // Hovering: probe under the pointer.
            let (ox, oy) = position(&ev, "offset");
            probe_at(ox * s, oy * s);
            return;
        };
        pointers.update_value(|p| {
            if let Some(entry) = p.iter_mut().find(|(id, ..)| *id == ev.pointer_id()) {
                *entry = (ev.pointer_id(), x, y);
            }
        });
        match before.as_slice() {
            // Two fingers: the image point between them stays between them,
            // scaled by the change in their distance.
            [a, b] => {
                let other = if a.0 == ev.pointer_id() { b } else { a };
                let distance = |x: f64, y: f64| ((x - other.1).powi(2) + (y - other.2).powi(2)).sqrt();
                let (before, after) = (distance(x0, y0), distance(x, y));
                if before > 0.0 && after > 0.0 {
                    // The canvas' corner on screen, from this event's two positions.
                    let (ox, oy) = position(&ev, "offset");
                    let (left, top) = (x - ox, y - oy);
                    let middle = |x: f64, y: f64| (((x + other.1) / 2.0 - left) * s, ((y + other.2) / 2.0 - top) * s);
                    let ((mx, my), (nx, ny)) = (middle(x0, y0), middle(x, y));
                    let zoomed = view.get_untracked().zoomed(after / before, mx, my);
                    set_view(View {
                        x: zoomed.x + nx - mx,
                        y: zoomed.y + ny - my,
                        ..zoomed
                    });
                }
            }
            [_] if drag_sets_window.get_untracked() => {
                if let Some(levels) = levels.get_untracked() {
                    let start = starting_window(&levels, window.get_untracked());
                    let zoom = view.get_untracked().zoom;
                    window.set(Some(levels.preview.dragged(
                        &start,
                        (x - x0) * s / zoom,
                        (y - y0) * s / zoom,
                    )));
                }
            }
            [_] => pan_by((x - x0) * s, (y - y0) * s),
            _ => {}
        }
    };
    let on_pointer_up = move |ev: leptos::ev::PointerEvent| {
        pointers.update_value(|p| p.retain(|(id, ..)| *id != ev.pointer_id()));
    };

    let labels = move || {
        let names = state.model_info().map(|i| i.labels).unwrap_or_default();
        let mut shown: Vec<(usize, String)> = state.heatmaps.with(|maps| {
            maps.iter()
                .filter_map(|(i, _)| names.get(*i).map(|n| (*i, n.clone())))
                .collect()
        });
        shown.sort();
        shown
    };
    let analysed = move || matches!(state.analysis.get(), AnalysisStatus::Done { .. });

    view! {
        <Show when=move || state.preview.with(Option::is_some)>
            <div class="viewer-controls row" role="toolbar" aria-label="Viewer">
                <button type="button" class="small" data-testid="viewer-zoom-out" aria-label="Zoom out" on:click=move |_| zoom_by(1.0 / ZOOM_STEP)>"−"</button>
                <button type="button" class="small" data-testid="viewer-zoom-in" aria-label="Zoom in" on:click=move |_| zoom_by(ZOOM_STEP)>"+"</button>
                <button type="button" class="small" data-testid="viewer-fit" on:click=move |_| view.set(View::FIT)>"Fit"</button>
                <button type="button" class="small" data-testid="viewer-actual" title="One image pixel per screen pixel (key 1)"
                    on:click=move |_| actual_size()>"1:1"</button>
                <label>
                    <input type="checkbox" data-testid="viewer-invert" prop:checked=move || invert.get()
                        on:change=move |ev| invert.set(event_target_checked(&ev))/>
                    " invert"
                </label>
                <Show when=move || levels.with(Option::is_some)>
                    <button type="button" class="small" data-testid="viewer-drag-window"
                        aria-pressed=move || drag_sets_window.get().to_string()
                        title="Dragging sets the window: right widens, down raises the level (key W)"
                        on:click=move |_| drag_sets_window.update(|w| *w = !*w)>"Drag: window"</button>
                </Show>
                <Show when=analysed>
                    <label>
                        "Overlay "
                        <select data-testid="viewer-overlay" on:change=move |ev| {
                            overlay_label.set(event_target_value(&ev).parse::<usize>().ok());
                        }>
                            <option value="" selected=move || overlay_label.get().is_none()>"none"</option>
                            <For each=labels key=|(i, _)| *i let:item>
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
                </Show>
            </div>
        </Show>
        <WindowLevel levels=levels window=window/>
        <canvas
            node_ref=canvas_ref
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
            on:keydown=on_key
            on:keyup=on_key_up
            on:pointerdown=on_pointer_down
            on:pointermove=on_pointer_move
            on:pointerup=on_pointer_up
            on:pointercancel=on_pointer_up
            on:pointerleave=move |_| if pointers.with_value(Vec::is_empty) { probed.set(None) }
        ></canvas>
        <Show when=move || state.preview.with(Option::is_some)>
            <p class="probe hint" data-testid="viewer-probe"
                data-x=move || probed.get().map(|p| p.x.to_string()).unwrap_or_default()
                data-y=move || probed.get().map(|p| p.y.to_string()).unwrap_or_default()
                data-stored=move || probed.get().and_then(|p| p.stored).map(|v| v.to_string()).unwrap_or_default()
                data-modality=move || probed.get().and_then(|p| p.modality).map(|v| v.to_string()).unwrap_or_default()
            >{move || probed.get().map_or_else(|| "Point at the image to read its values.".to_owned(), |p| p.text)}</p>
        </Show>
    }
}
