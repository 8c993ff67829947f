//! VOI windows (PS3.3 C.11.2): how a modality value becomes a display
//! value. One home for the maths, used by the DICOM decoder (a file's own
//! window) and by window/level on any grey image's full-depth values.

use serde::{Deserialize, Serialize};

/// The VOI LUT function of a window (PS3.3 C.11.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum WindowFunction {
    Linear,
    LinearExact,
    Sigmoid,
}

/// Modality value `x` through a window, in 0..=1 (SIGMOID's never quite
/// reaches either end).
pub fn window_unit(center: f64, width: f64, function: WindowFunction, x: f64) -> f64 {
    match function {
        // LINEAR is LINEAR_EXACT on a center half a level lower and a width one narrower.
        WindowFunction::Linear => window_unit(center - 0.5, (width - 1.0).max(0.0), WindowFunction::LinearExact, x),
        WindowFunction::LinearExact => {
            if x <= center - width / 2.0 {
                0.0
            } else if x > center + width / 2.0 {
                1.0
            } else {
                (x - center) / width + 0.5
            }
        }
        WindowFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
    }
}

/// A VOI window on modality values (PS3.3 C.11.2.1.2), with the file's
/// function where it came from a file (LINEAR otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub center: f64,
    pub width: f64,
    pub function: WindowFunction,
}

/// The narrowest window offered: one modality unit.
pub const MIN_WINDOW_WIDTH: f64 = 1.0;

impl Window {
    pub fn linear(center: f64, width: f64) -> Self {
        Self {
            center,
            width: width.max(MIN_WINDOW_WIDTH),
            function: WindowFunction::Linear,
        }
    }

    /// `value` (a modality value) as a display value in 0..=1.
    pub fn unit(&self, value: f64) -> f64 {
        let unit = match self.function {
            // From the window's bottom, as the decoder's full range is
            // computed, so that both round alike.
            WindowFunction::LinearExact => (value - (self.center - self.width / 2.0)) / self.width,
            function => window_unit(self.center, self.width, function, value),
        };
        unit.clamp(0.0, 1.0)
    }

    /// The 8-bit grey `value` is shown as: rounded half up, as the decoder
    /// rounds, after MONOCHROME1's inversion.
    pub fn grey(&self, value: f64, invert: bool) -> u8 {
        let v = self.unit(value);
        let v = if invert { 1.0 - v } else { v };
        (v * 255.0 + 0.5).floor() as u8
    }
}
