//! A frame's geometry and its coefficient blocks, filled by the scans and
//! turned into samples at the end: IDCT, upsampling, colour (jdmaster.c's
//! sizes, which decide what the edges of subsampled components hold).

use super::JpegError;
use super::colour::ColourSpace;
use super::idct::idct_islow;
use super::markers::{FrameHeader, Tables};
use super::upsample::{Plane, to_full_size};

pub(super) struct Component {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    quant_index: usize,
    /// Latched when the component's first scan starts, as libjpeg does.
    quant: Option<[u16; 64]>,
    /// Samples in the component's own (downsampled) resolution.
    width: usize,
    height: usize,
    /// Blocks holding them, and blocks stored (whole MCUs).
    pub blocks_w: usize,
    pub blocks_h: usize,
    stored_w: usize,
    coefficients: Vec<[i16; 64]>,
}

impl Component {
    pub(super) fn blocks_in_mcu(&self) -> usize {
        self.h * self.v
    }

    pub(super) fn block_mut(&mut self, bx: usize, by: usize) -> &mut [i16; 64] {
        &mut self.coefficients[by * self.stored_w + bx]
    }
}

pub(super) struct Frame {
    pub progressive: bool,
    pub precision: u8,
    pub width: usize,
    pub height: usize,
    pub components: Vec<Component>,
    h_max: usize,
    v_max: usize,
    pub mcus_x: usize,
    pub mcus_y: usize,
    /// Coefficient visits the scans may still make: a bound on decoding time
    /// whatever the file repeats (real progressive files visit each
    /// coefficient two or three times).
    work_left: u64,
}

/// Visits allowed per stored coefficient over all scans.
const VISITS_PER_COEFFICIENT: u64 = 16;

impl Frame {
    /// Allocates the coefficient blocks; the caller has bounded the size.
    pub(super) fn new(header: FrameHeader) -> Result<Self, JpegError> {
        let h_max = header.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = header.components.iter().map(|c| c.v).max().unwrap_or(1);
        let (width, height) = (header.width as usize, header.height as usize);
        let mcus_x = width.div_ceil(8 * h_max);
        let mcus_y = height.div_ceil(8 * v_max);
        let mut components = Vec::with_capacity(header.components.len());
        for spec in header.components {
            if h_max % spec.h != 0 || v_max % spec.v != 0 {
                return Err(JpegError::Unsupported("fractionally subsampled".into()));
            }
            let (c_width, c_height) = ((width * spec.h).div_ceil(h_max), (height * spec.v).div_ceil(v_max));
            let (stored_w, stored_h) = (mcus_x * spec.h, mcus_y * spec.v);
            components.push(Component {
                id: spec.id,
                h: spec.h,
                v: spec.v,
                quant_index: spec.quant,
                quant: None,
                width: c_width,
                height: c_height,
                blocks_w: c_width.div_ceil(8),
                blocks_h: c_height.div_ceil(8),
                stored_w,
                coefficients: vec![[0i16; 64]; stored_w * stored_h],
            });
        }
        let coefficients: u64 = components.iter().map(|c| c.coefficients.len() as u64 * 64).sum();
        Ok(Self {
            work_left: coefficients * VISITS_PER_COEFFICIENT,
            progressive: header.progressive,
            precision: header.precision,
            width,
            height,
            components,
            h_max,
            v_max,
            mcus_x,
            mcus_y,
        })
    }

    /// Charges a scan's coefficient visits against the budget.
    pub(super) fn charge(&mut self, visits: u64) -> Result<(), JpegError> {
        self.work_left = self
            .work_left
            .checked_sub(visits)
            .ok_or_else(|| JpegError::Corrupt("its scans repeat far beyond what any encoder writes".into()))?;
        Ok(())
    }

    pub(super) fn latch_quant(&mut self, index: usize, tables: &Tables) -> Result<(), JpegError> {
        let component = &mut self.components[index];
        if component.quant.is_none() {
            component.quant = Some(tables.quant[component.quant_index].ok_or_else(|| {
                JpegError::Corrupt(format!(
                    "quantisation table {} is used but not defined",
                    component.quant_index
                ))
            })?);
        }
        Ok(())
    }

    /// The image's samples: one grey plane, or R, G, B planes.
    pub(super) fn into_planes(self, colour: ColourSpace) -> Vec<Vec<u16>> {
        let Frame {
            precision,
            width,
            height,
            components,
            h_max,
            v_max,
            ..
        } = self;
        let mut planes = Vec::with_capacity(components.len());
        for component in components {
            // A component no scan reached has no table; its blocks are all zero.
            let quant = component.quant.unwrap_or([1; 64]);
            let stride = component.blocks_w * 8;
            let mut samples = vec![0u16; stride * component.blocks_h * 8];
            for by in 0..component.blocks_h {
                for bx in 0..component.blocks_w {
                    let block = &component.coefficients[by * component.stored_w + bx];
                    let start = by * 8 * stride + bx * 8;
                    idct_islow(block, &quant, precision, &mut samples[start..], stride);
                }
            }
            drop(component.coefficients);
            let plane = Plane {
                width: component.width,
                height: component.height,
                stride,
                samples,
            };
            planes.push(to_full_size(
                &plane,
                h_max / component.h,
                v_max / component.v,
                width,
                height,
            ));
        }
        colour.to_output(&mut planes, precision);
        planes
    }
}
