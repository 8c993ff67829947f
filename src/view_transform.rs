//! The viewer's pan and zoom as plain numbers, with no web types, so that
//! the maths is tested natively (`cargo test`) as well as used in the page.

pub const MIN_ZOOM: f64 = 1.0;
pub const MAX_ZOOM: f64 = 16.0;
/// Zoom steps double or halve, so that preview pixels stay whole canvas pixels.
pub const ZOOM_STEP: f64 = 2.0;
/// Canvas pixels an arrow key moves the image.
pub const PAN_STEP: f64 = 32.0;

/// Zoom (1: the whole image) and the image's top-left corner in canvas pixels.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct ViewTransform {
    pub zoom: f64,
    pub x: f64,
    pub y: f64,
}

impl ViewTransform {
    pub const FIT: Self = Self {
        zoom: 1.0,
        x: 0.0,
        y: 0.0,
    };

    /// Keeps the image covering the canvas: no empty margin at any zoom.
    pub fn clamped(self, width: f64, height: f64) -> Self {
        let zoom = self.zoom.clamp(MIN_ZOOM, MAX_ZOOM);
        let limit = |offset: f64, side: f64| offset.clamp(side - side * zoom, 0.0).round();
        Self {
            zoom,
            x: limit(self.x, width),
            y: limit(self.y, height),
        }
    }

    /// Zoomed by `factor` about canvas point (`cx`, `cy`), which stays put.
    pub fn zoomed(self, factor: f64, cx: f64, cy: f64) -> Self {
        let zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let ratio = zoom / self.zoom;
        Self {
            zoom,
            x: cx - (cx - self.x) * ratio,
            y: cy - (cy - self.y) * ratio,
        }
    }

    /// Moved by (`dx`, `dy`) canvas pixels.
    pub fn panned(self, dx: f64, dy: f64) -> Self {
        Self {
            x: self.x + dx,
            y: self.y + dy,
            ..self
        }
    }

    /// A pinch: zoomed by `factor` about the fingers' middle as it was
    /// (`from`), then moved with the middle to where it is now (`to`).
    pub fn pinched(self, factor: f64, from: (f64, f64), to: (f64, f64)) -> Self {
        let zoomed = self.zoomed(factor, from.0, from.1);
        Self {
            x: zoomed.x + to.0 - from.0,
            y: zoomed.y + to.1 - from.1,
            ..zoomed
        }
    }

    /// The preview point under canvas point (`cx`, `cy`).
    pub fn image_point(self, cx: f64, cy: f64) -> (f64, f64) {
        ((cx - self.x) / self.zoom, (cy - self.y) / self.zoom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_TWO: ViewTransform = ViewTransform {
        zoom: 2.0,
        x: -40.0,
        y: -20.0,
    };

    #[test]
    fn clamping_keeps_the_image_over_the_whole_canvas() {
        let far = ViewTransform {
            zoom: 2.0,
            x: 10.0,
            y: -500.0,
        };
        assert_eq!(
            far.clamped(100.0, 80.0),
            ViewTransform {
                x: 0.0,
                y: -80.0,
                ..far
            }
        );
        let too_far_in = ViewTransform { zoom: 64.0, ..far };
        assert_eq!(too_far_in.clamped(100.0, 80.0).zoom, MAX_ZOOM);
        let too_far_out = ViewTransform { zoom: 0.5, ..far };
        assert_eq!(too_far_out.clamped(100.0, 80.0), ViewTransform::FIT);
        // Offsets land on whole canvas pixels.
        let between = ViewTransform { x: -10.6, ..AT_TWO };
        assert_eq!(between.clamped(100.0, 80.0).x, -11.0);
    }

    #[test]
    fn zooming_keeps_the_point_under_the_pointer() {
        let before = AT_TWO.image_point(30.0, 50.0);
        let zoomed = AT_TWO.zoomed(ZOOM_STEP, 30.0, 50.0);
        assert_eq!(zoomed.zoom, 4.0);
        assert_eq!(zoomed.image_point(30.0, 50.0), before);
        // At the limit the image neither zooms nor moves.
        let most = ViewTransform {
            zoom: MAX_ZOOM,
            ..AT_TWO
        };
        assert_eq!(most.zoomed(ZOOM_STEP, 30.0, 50.0), most);
    }

    #[test]
    fn panning_moves_the_corner_and_keeps_the_zoom() {
        assert_eq!(
            AT_TWO.panned(PAN_STEP, -PAN_STEP),
            ViewTransform {
                zoom: 2.0,
                x: -8.0,
                y: -52.0
            }
        );
    }

    #[test]
    fn a_pinch_keeps_the_point_between_the_fingers_between_them() {
        let under = AT_TWO.image_point(20.0, 30.0);
        let pinched = AT_TWO.pinched(2.0, (20.0, 30.0), (26.0, 25.0));
        assert_eq!(pinched.zoom, 4.0);
        assert_eq!(pinched.image_point(26.0, 25.0), under);
        // Fingers that move apart by nothing only pan.
        assert_eq!(
            AT_TWO.pinched(1.0, (20.0, 30.0), (26.0, 25.0)),
            AT_TWO.panned(6.0, -5.0)
        );
    }
}
