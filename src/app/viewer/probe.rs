//! The pixel probe: the image pixel under a point and its values, and the
//! line under the canvas that says them.

use crate::app::{AppState, Preview};
use crate::view_transform::ViewTransform;
use chexlens_images::levels::LevelsSource;
use leptos::prelude::*;

/// What the pixel probe says about the image pixel under a point.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    x: usize,
    y: usize,
    text: String,
    stored: Option<i32>,
    modality: Option<f64>,
}

/// The image pixel under canvas point (`cx`, `cy`) and its values: stored
/// (and modality, for DICOM) where the full-depth values are at hand,
/// else the preview's colour.
pub fn probe(preview: &Preview, view: ViewTransform, cx: f64, cy: f64) -> Option<Probe> {
    let (px, py) = view.image_point(cx, cy);
    let (pw, ph) = (preview.width as f64, preview.height as f64);
    if !(0.0..pw).contains(&px) || !(0.0..ph).contains(&py) {
        return None;
    }
    let Some(levels) = &preview.levels else {
        return Some(colour_probe(preview, px, py));
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

/// A colour image's pixel at preview point (`px`, `py`): where it is in the
/// image and the colour shown, having no stored values.
fn colour_probe(preview: &Preview, px: f64, py: f64) -> Probe {
    let (pw, ph) = (preview.width as f64, preview.height as f64);
    let source_height = (preview.source_width as f64 * ph / pw).round();
    let (x, y) = (
        (px * preview.source_width as f64 / pw) as usize,
        (py * source_height / ph) as usize,
    );
    let i = (py as usize * preview.width + px as usize) * 4;
    let [r, g, b] = [preview.rgba[i], preview.rgba[i + 1], preview.rgba[i + 2]];
    Probe {
        x,
        y,
        text: format!("x {x}, y {y}: shown as R {r}, G {g}, B {b} (colour images have no stored values to show here)"),
        stored: None,
        modality: None,
    }
}

/// The probe's reading, in words and (for tests) as data attributes.
#[component]
pub fn ProbeReadout(probed: RwSignal<Option<Probe>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
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
