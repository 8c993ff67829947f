//! What the canvas shows: the preview (through the window set, if any)
//! with the chosen label's heat map over it, inverted or not, drawn through
//! the view's transform so that the overlay stays on the anatomy it marks.

use super::state::ViewerState;
use crate::app::heatmaps::{composite, put_pixels};
use crate::app::{Levels, Preview};
use crate::view_transform::ViewTransform;
use chexlens_images::cam::CamMap;
use chexlens_images::window::Window;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// Preview-sized RGBA pixels, with their width and height.
type Picture = Option<(Vec<u8>, usize, usize)>;

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
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

/// The heat map over the image: the chosen label's, unless held hidden.
fn overlay_map(viewer: ViewerState) -> Option<CamMap> {
    let label = if viewer.overlay_hidden.get() {
        None
    } else {
        viewer.overlay_label.get()
    };
    label.and_then(|l| {
        viewer
            .app
            .heatmaps
            .with(|maps| maps.iter().find(|(i, _)| *i == l).map(|(_, m)| m.clone()))
    })
}

/// The preview-sized picture: recomputed only when what it shows changes,
/// not when the view moves.
pub fn picture(viewer: ViewerState) -> Memo<Picture> {
    Memo::new(move |_| {
        let preview = viewer.app.preview.get()?;
        let preview = match (viewer.levels.get(), viewer.window.get()) {
            (Some(levels), Some(window)) => windowed(&preview, &levels, &window),
            _ => preview,
        };
        let map = overlay_map(viewer);
        Some((
            composite(&preview, map.as_ref(), viewer.opacity.get(), viewer.invert.get()),
            preview.width,
            preview.height,
        ))
    })
}

/// Draws the picture whenever it or the view changes.
pub fn draw_on_change(viewer: ViewerState, picture: Memo<Picture>) {
    let source: StoredValue<Option<HtmlCanvasElement>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let v = viewer.view.get();
        let Some(canvas) = viewer.canvas.get() else { return };
        picture.with(|picture| {
            let Some((rgba, width, height)) = picture else { return };
            let document = web_sys::window().and_then(|w| w.document());
            let offscreen = source
                .get_value()
                .or_else(|| document?.create_element("canvas").ok()?.dyn_into().ok());
            let Some(offscreen) = offscreen else { return };
            put_pixels(&offscreen, rgba, *width, *height);
            draw(&canvas, &offscreen, (*width, *height), v);
            source.set_value(Some(offscreen));
        });
    });
}

/// Drawn with the view's transform, nearest-neighbour, so that each
/// preview pixel is a block of whole canvas pixels.
fn draw(canvas: &HtmlCanvasElement, picture: &HtmlCanvasElement, (width, height): (usize, usize), v: ViewTransform) {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    if let Some(ctx) = context(canvas) {
        ctx.set_image_smoothing_enabled(false);
        let _ = ctx.set_transform(v.zoom, 0.0, 0.0, v.zoom, v.x, v.y);
        let _ = ctx.draw_image_with_html_canvas_element(picture, 0.0, 0.0);
    }
}
