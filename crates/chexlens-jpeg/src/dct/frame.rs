//! A frame's geometry and its coefficient blocks, filled by the scans and
//! turned into samples at the end: IDCT, upsampling, colour (jdmaster.c's
//! sizes, which decide what the edges of subsampled components hold).

use super::JpegError;
use super::colour::ColourSpace;
use super::idct::idct_islow;
use super::markers::{FrameHeader, Tables};
use super::samples::{Planes, Sample};
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
    stored_h: usize,
    /// Rows of coefficient blocks: every stored row when buffered, each
    /// allocated when a scan first reaches it; one MCU row when streaming.
    rows: Vec<Option<Box<[[i16; 64]]>>>,
    /// The first block row `rows` holds (streaming).
    row_base: usize,
    /// The component's samples, `width` x `height` (streaming: filled as
    /// MCU rows complete; buffered: made at the end).
    samples: Buffer,
}

/// A component's samples at its precision's width.
enum Buffer {
    Eight(Vec<u8>),
    Twelve(Vec<u16>),
}

impl Buffer {
    fn zeroed(precision: u8, len: usize) -> Self {
        match precision {
            8 => Buffer::Eight(vec![0; len]),
            _ => Buffer::Twelve(vec![0; len]),
        }
    }
}

/// Takes a component's samples out as the type its precision chose.
trait FromBuffer: Sample {
    fn from_buffer(buffer: Buffer) -> Vec<Self>;
}

impl FromBuffer for u8 {
    fn from_buffer(buffer: Buffer) -> Vec<u8> {
        match buffer {
            Buffer::Eight(samples) => samples,
            // Not reached: one precision decides both.
            Buffer::Twelve(samples) => samples.into_iter().map(|v| v as u8).collect(),
        }
    }
}

impl FromBuffer for u16 {
    fn from_buffer(buffer: Buffer) -> Vec<u16> {
        match buffer {
            Buffer::Twelve(samples) => samples,
            Buffer::Eight(samples) => samples.into_iter().map(u16::from).collect(),
        }
    }
}

impl Component {
    pub(super) fn blocks_in_mcu(&self) -> usize {
        self.h * self.v
    }

    pub(super) fn block_mut(&mut self, bx: usize, by: usize) -> &mut [i16; 64] {
        let stored_w = self.stored_w;
        let row = self.rows[by - self.row_base].get_or_insert_with(|| vec![[0i16; 64]; stored_w].into_boxed_slice());
        &mut row[bx]
    }

    /// Inverse-transforms block row `by` of `blocks` (None: all zero) into the samples.
    fn transform_row(&mut self, by: usize, blocks: Option<&[[i16; 64]]>, precision: u8) {
        // A component no scan reached has no table; its blocks are all zero.
        let quant = self.quant.unwrap_or([1; 64]);
        let geometry = (self.width, self.height, self.blocks_w);
        match &mut self.samples {
            Buffer::Eight(samples) => transform_row(samples, geometry, &quant, by, blocks, precision),
            Buffer::Twelve(samples) => transform_row(samples, geometry, &quant, by, blocks, precision),
        }
    }
}

/// Block row `by` of a component of `width` x `height` samples in
/// `blocks_w` blocks a row, into `samples`.
fn transform_row<T: Sample>(
    samples: &mut [T],
    (width, height, blocks_w): (usize, usize, usize),
    quant: &[u16; 64],
    by: usize,
    blocks: Option<&[[i16; 64]]>,
    precision: u8,
) {
    const ZERO: [i16; 64] = [0; 64];
    let top = by * 8;
    for bx in 0..blocks_w {
        let block = blocks.map_or(&ZERO, |row| &row[bx]);
        let left = bx * 8;
        if left + 8 <= width && top + 8 <= height {
            idct_islow(block, quant, precision, &mut samples[top * width + left..], width);
        } else {
            // An edge block: only its samples inside the component are kept.
            let mut edge = [T::default(); 64];
            idct_islow(block, quant, precision, &mut edge, 8);
            let (across, down) = ((width - left).min(8), (height - top).min(8));
            for y in 0..down {
                let at = (top + y) * width + left;
                samples[at..at + across].copy_from_slice(&edge[y * 8..y * 8 + across]);
            }
        }
    }
}

/// How coefficients are held until they become samples.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Storage {
    /// Not yet decided: no scan has started.
    Undecided,
    /// A sequential frame whose one scan holds every component: one MCU
    /// row of coefficients per component, turned into samples as each
    /// row completes.
    Streaming,
    /// Progressive, or one scan per component: every coefficient, kept
    /// until the last scan.
    Buffered,
}

pub(super) struct Frame {
    pub progressive: bool,
    pub arithmetic: bool,
    pub precision: u8,
    pub width: usize,
    pub height: usize,
    pub components: Vec<Component>,
    h_max: usize,
    v_max: usize,
    pub mcus_x: usize,
    pub mcus_y: usize,
    pub storage: Storage,
    /// Coefficient visits the scans may still make: a bound on decoding time
    /// whatever the file repeats (real progressive files visit each
    /// coefficient two or three times).
    work_left: u64,
}

/// Visits allowed per stored coefficient over all scans.
const VISITS_PER_COEFFICIENT: u64 = 16;

impl Frame {
    /// The frame's geometry; nothing the size of the image is allocated
    /// until a scan starts (the caller has bounded the size).
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
                stored_w: mcus_x * spec.h,
                stored_h: mcus_y * spec.v,
                rows: Vec::new(),
                row_base: 0,
                samples: Buffer::Eight(Vec::new()),
            });
        }
        let coefficients: u64 = components.iter().map(|c| (c.stored_w * c.stored_h) as u64 * 64).sum();
        Ok(Self {
            work_left: coefficients * VISITS_PER_COEFFICIENT,
            progressive: header.progressive,
            arithmetic: header.arithmetic,
            precision: header.precision,
            width,
            height,
            components,
            h_max,
            v_max,
            mcus_x,
            mcus_y,
            storage: Storage::Undecided,
        })
    }

    /// Decides, at the first scan, how coefficients are held: streaming
    /// when the frame is sequential and this scan holds every component
    /// (libjpeg's single-scan mode, where a later scan is an error).
    pub(super) fn choose_storage(&mut self, components_in_scan: usize) -> Storage {
        if self.storage == Storage::Undecided {
            self.storage = if !self.progressive && components_in_scan == self.components.len() {
                Storage::Streaming
            } else {
                Storage::Buffered
            };
        }
        self.storage
    }

    /// Makes room for decoding (the second pass, once the file's structure
    /// has been read whole): streaming components get one MCU row of
    /// blocks and their sample planes; buffered ones an index of rows.
    pub(super) fn allocate(&mut self, single_component_scan: bool) {
        let precision = self.precision;
        for c in &mut self.components {
            if !c.rows.is_empty() {
                continue;
            }
            match self.storage {
                Storage::Streaming => {
                    let rows = if single_component_scan { 1 } else { c.v };
                    c.rows = (0..rows).map(|_| None).collect();
                    c.samples = Buffer::zeroed(precision, c.width * c.height);
                }
                _ => c.rows = (0..c.stored_h).map(|_| None).collect(),
            }
        }
    }

    /// Streaming: the blocks of MCU row `my` are about to be decoded.
    pub(super) fn start_mcu_row(&mut self, my: usize, single_component_scan: bool) {
        if self.storage == Storage::Streaming {
            for c in &mut self.components {
                c.row_base = if single_component_scan { my } else { my * c.v };
            }
        }
    }

    /// Streaming: MCU row `my` is complete; its blocks become samples and
    /// the row's coefficients start again at zero (as libjpeg zeroes each MCU).
    pub(super) fn finish_mcu_row(&mut self) {
        if self.storage != Storage::Streaming {
            return;
        }
        let precision = self.precision;
        for c in &mut self.components {
            let mut rows = std::mem::take(&mut c.rows);
            for (r, row) in rows.iter_mut().enumerate() {
                let by = c.row_base + r;
                if by < c.blocks_h {
                    c.transform_row(by, row.as_deref(), precision);
                }
                if let Some(blocks) = row {
                    blocks.fill([0; 64]);
                }
            }
            c.rows = rows;
        }
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

    /// The image's samples: one grey plane, or R, G, B planes, as bytes
    /// for 8-bit files. Buffered coefficients are transformed a block row
    /// at a time, each row freed once it is samples.
    pub(super) fn into_planes(self, colour: ColourSpace) -> Planes {
        match self.precision {
            8 => Planes::Eight(self.planes::<u8>(colour)),
            _ => Planes::Twelve(self.planes::<u16>(colour)),
        }
    }

    fn planes<T: FromBuffer>(self, colour: ColourSpace) -> Vec<Vec<T>> {
        let Frame {
            precision,
            width,
            height,
            components,
            h_max,
            v_max,
            storage,
            ..
        } = self;
        let mut planes = Vec::with_capacity(components.len());
        for mut component in components {
            if storage != Storage::Streaming {
                component.samples = Buffer::zeroed(precision, component.width * component.height);
                // Rows no scan reached (or a component no scan named) are all zero.
                let mut rows = std::mem::take(&mut component.rows).into_iter();
                for by in 0..component.blocks_h {
                    let row = rows.next().flatten();
                    component.transform_row(by, row.as_deref(), precision);
                }
            }
            let plane = Plane {
                width: component.width,
                height: component.height,
                samples: T::from_buffer(component.samples),
            };
            planes.push(to_full_size(
                plane,
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
