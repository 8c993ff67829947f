//! Samples at the width their precision needs: 8-bit files decode into
//! bytes (what Pillow gives, half the memory of 16-bit planes), 12-bit
//! files into 16-bit words. The IDCT, upsampling and colour conversion are
//! written once over [`Sample`].

/// A sample type: `u8` for 8-bit files, `u16` for 12-bit ones.
pub trait Sample: Copy + Default + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    fn get(self) -> u32;
    /// `value` is within the type's range (the callers clamp first).
    fn of(value: u32) -> Self;
}

impl Sample for u8 {
    #[inline(always)]
    fn get(self) -> u32 {
        self as u32
    }

    #[inline(always)]
    fn of(value: u32) -> Self {
        value as u8
    }
}

impl Sample for u16 {
    #[inline(always)]
    fn get(self) -> u32 {
        self as u32
    }

    #[inline(always)]
    fn of(value: u32) -> Self {
        value as u16
    }
}

/// A decoded image's planes: one grey plane, or R, G, B.
#[derive(Debug, Clone, PartialEq)]
pub enum Planes {
    /// 8-bit samples (`precision` 8).
    Eight(Vec<Vec<u8>>),
    /// 12-bit samples in 16-bit words (`precision` 12).
    Twelve(Vec<Vec<u16>>),
}

impl Planes {
    /// How many planes: 1 (grey) or 3 (colour).
    pub fn count(&self) -> usize {
        match self {
            Planes::Eight(planes) => planes.len(),
            Planes::Twelve(planes) => planes.len(),
        }
    }
}
