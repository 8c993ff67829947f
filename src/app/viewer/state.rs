//! What the viewer's parts share: how the image is shown (pan and zoom,
//! invert, window, overlay), what the probe read, and the steps the
//! toolbar, the keys and the pointer take on them.

use super::probe::{Probe, probe};
use crate::app::window_level::starting_window;
use crate::app::{AppState, Levels};
use crate::view_transform::ViewTransform;
use chexlens_images::window::Window;
use leptos::html::Canvas;
use leptos::prelude::*;

/// The viewer's signals, a `Copy` handle for each of its parts.
#[derive(Clone, Copy)]
pub struct ViewerState {
    pub app: AppState,
    pub canvas: NodeRef<Canvas>,
    pub view: RwSignal<ViewTransform>,
    pub invert: RwSignal<bool>,
    /// The label whose heat map is drawn over the image: the one selected
    /// in the findings (the page's, so that both show the same).
    pub overlay_label: RwSignal<Option<usize>>,
    pub opacity: RwSignal<f32>,
    /// Held by "Hide overlay" or the H key.
    pub overlay_hidden: RwSignal<bool>,
    /// The window set here; none: as analysed.
    pub window: RwSignal<Option<Window>>,
    /// Whether dragging sets the window rather than panning.
    pub drag_sets_window: RwSignal<bool>,
    pub probed: RwSignal<Option<Probe>>,
    /// A grey image's full-depth values, where it has them.
    pub levels: Memo<Option<Levels>>,
}

impl ViewerState {
    pub fn new(app: AppState) -> Self {
        Self {
            app,
            canvas: NodeRef::new(),
            view: RwSignal::new(ViewTransform::FIT),
            invert: RwSignal::new(false),
            overlay_label: app.selected_label,
            opacity: RwSignal::new(0.5),
            overlay_hidden: RwSignal::new(false),
            window: RwSignal::new(None),
            drag_sets_window: RwSignal::new(false),
            probed: RwSignal::new(None),
            levels: Memo::new(move |_| app.preview.with(|p| p.as_ref().and_then(|p| p.levels.clone()))),
        }
    }

    /// A new image starts fitted, as analysed, without an overlay.
    pub fn reset(&self) {
        self.view.set(ViewTransform::FIT);
        self.overlay_label.set(None);
        self.window.set(None);
        self.probed.set(None);
        if self.levels.with_untracked(Option::is_none) {
            self.drag_sets_window.set(false);
        }
    }

    /// The preview's size, which is the canvas' in canvas pixels.
    pub fn size(&self) -> (f64, f64) {
        self.app
            .preview
            .with(|p| p.as_ref().map_or((1.0, 1.0), |p| (p.width as f64, p.height as f64)))
    }

    pub fn set_view(&self, next: ViewTransform) {
        let (w, h) = self.size();
        self.view.set(next.clamped(w, h));
    }

    /// Zoomed by `factor` about the middle of the canvas.
    pub fn zoom_by(&self, factor: f64) {
        let (w, h) = self.size();
        self.set_view(self.view.get_untracked().zoomed(factor, w / 2.0, h / 2.0));
    }

    pub fn pan_by(&self, dx: f64, dy: f64) {
        self.set_view(self.view.get_untracked().panned(dx, dy));
    }

    pub fn fit(&self) {
        self.view.set(ViewTransform::FIT);
    }

    /// One pixel of the image per CSS pixel, about the centre (never below fit).
    pub fn actual_size(&self) {
        let (Some(canvas), Some(source)) = (
            self.canvas.get_untracked(),
            self.app.preview.with_untracked(|p| p.as_ref().map(|p| p.source_width)),
        ) else {
            return;
        };
        let factor = source as f64 / f64::from(canvas.client_width().max(1)) / self.view.get_untracked().zoom;
        self.zoom_by(factor);
    }

    /// Canvas pixels per CSS pixel of the element as shown.
    pub fn scale(&self) -> f64 {
        self.canvas
            .get_untracked()
            .map_or(1.0, |c| c.width() as f64 / f64::from(c.client_width().max(1)))
    }

    /// Reads the image pixel under canvas point (`cx`, `cy`).
    pub fn probe_at(&self, cx: f64, cy: f64) {
        let view = self.view.get_untracked();
        let found = self
            .app
            .preview
            .with_untracked(|p| p.as_ref().and_then(|p| probe(p, view, cx, cy)));
        self.probed.set(found);
    }

    /// The window dragged by (`dx`, `dy`) canvas pixels from the one in effect.
    pub fn drag_window(&self, dx: f64, dy: f64) {
        if let Some(levels) = self.levels.get_untracked() {
            let start = starting_window(&levels, self.window.get_untracked());
            let zoom = self.view.get_untracked().zoom;
            self.window
                .set(Some(levels.preview.dragged(&start, dx / zoom, dy / zoom)));
        }
    }

    pub fn toggle_drag_window(&self) {
        self.drag_sets_window.update(|w| *w = !*w);
    }
}
