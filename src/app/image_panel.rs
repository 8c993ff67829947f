//! Image input (picker, drag and drop, paste) and the X-ray on a canvas.

use super::viewer::Viewer;
use super::{Actions, AppState, GreyPreview, ImageFile, Preview, read_file};
use crate::protocol::preview_dimensions;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement, ImageBitmap, ImageData};

fn take_file(state: AppState, actions: Actions, file: web_sys::File) {
    if file.size() == 0.0 {
        state.error.set(Some(format!("{}: the file is empty", file.name())));
        return;
    }
    // Refused before reading, with the model crate's own message.
    let limit = chexlens_images::image::MAX_FILE_BYTES;
    if file.size() > limit as f64 {
        let error = chexlens_images::input::ImageError::FileTooLarge(file.size() as u64);
        state.error.set(Some(format!("{}: {error}", file.name())));
        return;
    }
    leptos::task::spawn_local(async move {
        match read_file(&file).await {
            Ok(bytes) => actions.open_image(file.name(), bytes),
            Err(e) => state.error.set(Some(e)),
        }
    });
}

fn draw(state: AppState, canvas: &HtmlCanvasElement, image: &ImageFile) {
    state.preview.set(None);
    let Ok(Some(ctx)) = canvas.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<CanvasRenderingContext2d>() else {
        return;
    };
    ctx.clear_rect(0.0, 0.0, canvas.width() as f64, canvas.height() as f64);
    if let Some(preview) = &image.grey_preview {
        draw_grey(state, canvas, &ctx, preview);
        return;
    }
    let array = js_sys::Array::of1(&js_sys::Uint8Array::from(image.bytes.as_slice()));
    let Ok(blob) = Blob::new_with_u8_array_sequence(&array) else {
        return;
    };
    let Some(window) = web_sys::window() else { return };
    // Decoded straight from memory: no object URL, nothing that looks like a request.
    let Ok(promise) = window.create_image_bitmap_with_blob(&blob) else {
        return;
    };
    let canvas = canvas.clone();
    leptos::task::spawn_local(async move {
        // Undisplayable files are still sent for analysis, whose message explains.
        let Ok(bitmap) = wasm_bindgen_futures::JsFuture::from(promise).await else {
            return;
        };
        let bitmap: ImageBitmap = bitmap.unchecked_into();
        let bitmap_width = bitmap.width() as usize;
        let (pw, ph) = preview_dimensions(bitmap_width, bitmap.height() as usize);
        canvas.set_width(pw as u32);
        canvas.set_height(ph as u32);
        let _ = ctx.draw_image_with_image_bitmap_and_dw_and_dh(&bitmap, 0.0, 0.0, pw as f64, ph as f64);
        bitmap.close();
        // Heat maps are drawn over these pixels.
        if let Ok(data) = ctx.get_image_data(0.0, 0.0, pw as f64, ph as f64) {
            state.preview.set(Some(Preview {
                width: pw,
                height: ph,
                rgba: data.data().0,
                source_width: bitmap_width,
                levels: None,
            }));
        }
    });
}

/// A preview decoded by the worker (DICOM, grey PNG and JPEG).
fn draw_grey(state: AppState, canvas: &HtmlCanvasElement, ctx: &CanvasRenderingContext2d, preview: &GreyPreview) {
    let rgba: Vec<u8> = preview.grey.iter().flat_map(|&g| [g, g, g, 255]).collect();
    let (w, h) = (preview.width as u32, preview.height as u32);
    let Ok(data) = ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), w, h) else {
        return;
    };
    canvas.set_width(w);
    canvas.set_height(h);
    let _ = ctx.put_image_data(&data, 0.0, 0.0);
    state.preview.set(Some(Preview {
        width: preview.width,
        height: preview.height,
        rgba,
        source_width: preview.source_width.max(preview.width),
        levels: preview.levels.clone(),
    }));
}

/// Which frame of a multi-frame DICOM is shown and analysed (from 1, as
/// DICOM numbers them); a new one is decoded and analysed on change.
#[component]
fn FrameChooser(frames: u32, frame: u32) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let choose = move |value: String| {
        if let Ok(n) = value.trim().parse::<u32>()
            && (1..=frames).contains(&n)
        {
            actions.choose_frame(n - 1);
        }
    };
    view! {
        <label class="frame-chooser">
            {format!("Frame (1–{frames}) ")}
            <input type="number" min="1" max=frames.to_string() step="1" prop:value=frame.to_string()
                data-testid="frame-input" on:change=move |ev| choose(event_target_value(&ev))/>
        </label>
    }
}

/// What a DICOM file is and what chexlens did with it; no identifying tags.
#[component]
fn DicomSummary() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.dicom.get().map(|d| {
            let line = d.summary.describe();
            let windowing = d.summary.windowing;
            let (frames, frame) = (d.summary.frames, d.summary.frame);
            view! {
                <div class="dicom-summary" data-testid="dicom-summary">
                    <p>{line}</p>
                    {(frames > 1).then(|| view! { <FrameChooser frames=frames frame=frame/> })}
                    {(!windowing.is_empty()).then(|| view! { <p>"Shown with " {windowing}</p> })}
                    <ul class="notices">
                        {d.notices.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                    </ul>
                    <p class="hint">"Patient name, ID and dates in the file are not shown, kept or sent."</p>
                </div>
            }
        })
    }
}

#[component]
pub fn ImagePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let dragging = RwSignal::new(false);

    Effect::new(move |_| {
        if let (Some(canvas), Some(image)) = (canvas_ref.get(), state.image.get()) {
            draw(state, &canvas, &image);
        }
    });

    // Paste anywhere on the page.
    let paste = window_event_listener(leptos::ev::paste, move |ev| {
        let file = ev.clipboard_data().and_then(|d| d.files()).and_then(|f| f.get(0));
        if let Some(file) = file {
            ev.prevent_default();
            take_file(state, actions, file);
        }
    });
    on_cleanup(move || paste.remove());

    let on_change = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            take_file(state, actions, file);
        }
        input.set_value("");
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            take_file(state, actions, file);
        }
    };

    view! {
        <div class="panel image-panel">
            <h2 class="sr-only">"X-ray"</h2>
            <div
                class="drop-zone"
                data-testid="image-drop"
                class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <div class="open-row">
                    <label class="file-button">
                        "Open an image…"
                        // No accept filter: DICOM files from hospital systems often have no extension.
                        <input type="file" data-testid="image-input" on:change=on_change/>
                    </label>
                    // The file's name once there is one; until then, what else works.
                    <span class="file-name">{move || state.image.get().map(|i| i.name).unwrap_or_default()}</span>
                    <Show when=move || state.image.with(Option::is_none)>
                        <span class="hint">"or drop a PNG, JPEG or DICOM file here, or paste one."</span>
                    </Show>
                    <Show when=move || state.inspecting.get().is_some()>
                        <span class="status" role="status" data-testid="dicom-reading">
                            {move || format!("Reading {}…", state.inspecting.get().map(|f| f.name).unwrap_or_default())}
                        </span>
                    </Show>
                </div>
                <Viewer/>
                <DicomSummary/>
                // Where a picked image is decoded into the preview; the viewer shows it.
                <canvas node_ref=canvas_ref width="1" height="1" hidden></canvas>
            </div>
        </div>
    }
}
