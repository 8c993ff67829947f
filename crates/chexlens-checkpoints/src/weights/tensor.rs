//! A named, dense f32 tensor as read from a weight file.

/// Storage types found in weight files; everything is converted to f32 on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StoredDType {
    pub fn size_bytes(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::F64 => "f64",
            Self::I64 => "i64",
            Self::I32 => "i32",
            Self::I16 => "i16",
            Self::I8 => "i8",
            Self::U8 => "u8",
            Self::Bool => "bool",
        }
    }

    /// The storage types a model's weights can have.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16 | Self::F64)
    }

    /// Decodes one little-endian element. `bytes` holds exactly `size_bytes()`.
    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
            Self::BF16 => half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
            Self::F64 => f64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as f32,
            Self::I64 => i64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as f32,
            Self::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Self::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
            Self::I8 => b[0] as i8 as f32,
            Self::U8 | Self::Bool => b[0] as f32,
        }
    }

    /// Converts a contiguous little-endian buffer to f32.
    pub fn to_f32(self, bytes: &[u8]) -> Vec<f32> {
        if self == Self::F32 {
            // The common case, without per-element dispatch.
            return bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
        }
        bytes.chunks_exact(self.size_bytes()).map(|b| self.decode(b)).collect()
    }

    /// Gathers a strided view (PyTorch's size/stride/offset, in elements)
    /// into a dense f32 vector. The view must lie inside `storage`
    /// ([`TensorSlot::check`]).
    fn gather_f32(self, storage: &[u8], offset: usize, shape: &[usize], stride: &[usize]) -> Vec<f32> {
        let size = self.size_bytes();
        let numel: usize = shape.iter().product();
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..numel {
            let element = offset + index.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
            out.push(self.decode(&storage[element * size..(element + 1) * size]));
            for axis in (0..shape.len()).rev() {
                index[axis] += 1;
                if index[axis] < shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        out
    }
}

/// Where a tensor's values sit in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement<'a> {
    /// Row-major, exactly `numel` elements.
    Dense(&'a [u8]),
    /// A PyTorch view: `offset` and `stride` in elements into a storage.
    Strided {
        storage: &'a [u8],
        offset: usize,
        stride: Vec<usize>,
    },
}

/// A tensor as a file describes it, before its values are read.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSlot<'a> {
    pub dtype: StoredDType,
    pub shape: Vec<usize>,
    pub placement: Placement<'a>,
}

impl TensorSlot<'_> {
    /// Elements, or `None` where the shape's product overflows.
    pub fn numel(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// The bytes reading this tensor converts (`numel x size`), saturating.
    pub fn stored_bytes(&self) -> u64 {
        self.numel()
            .map_or(u64::MAX, |n| (n as u64).saturating_mul(self.dtype.size_bytes() as u64))
    }

    /// Checks the description against its bytes: a float type, a sane rank,
    /// and every element the view touches inside its storage.
    pub fn check(&self, key: &str) -> Result<(), super::WeightErrorKind> {
        use super::WeightErrorKind as K;
        check_kind(key, self.dtype, &self.shape)?;
        let size = self.dtype.size_bytes() as u64;
        let overclaim = |claimed: u64, actual: usize| K::SizeMismatch {
            key: key.to_string(),
            claimed,
            actual: actual as u64,
        };
        let numel = self.numel().ok_or_else(|| overclaim(u64::MAX, 0))?;
        match &self.placement {
            Placement::Dense(bytes) => {
                if (numel as u64).saturating_mul(size) != bytes.len() as u64 {
                    return Err(overclaim((numel as u64).saturating_mul(size), bytes.len()));
                }
            }
            Placement::Strided {
                storage,
                offset,
                stride,
            } => {
                if stride.len() != self.shape.len() {
                    return Err(overclaim(u64::MAX, storage.len()));
                }
                if numel == 0 {
                    return Ok(());
                }
                // The last element the view touches, in checked arithmetic.
                let extent = self
                    .shape
                    .iter()
                    .zip(stride)
                    .try_fold(*offset as u64, |acc, (&n, &s)| {
                        acc.checked_add((n as u64 - 1).checked_mul(s as u64)?)
                    })
                    .and_then(|last| last.checked_add(1))
                    .and_then(|count| count.checked_mul(size));
                match extent {
                    Some(bytes) if bytes <= storage.len() as u64 => {}
                    other => return Err(overclaim(other.unwrap_or(u64::MAX), storage.len())),
                }
            }
        }
        Ok(())
    }

    /// The values as f32. The slot must have passed [`TensorSlot::check`].
    pub fn to_f32(&self) -> TensorF32 {
        let size = self.dtype.size_bytes();
        let numel = self.numel().unwrap_or(0);
        let data = match &self.placement {
            Placement::Dense(bytes) => self.dtype.to_f32(bytes),
            Placement::Strided { .. } if numel == 0 => Vec::new(),
            Placement::Strided {
                storage,
                offset,
                stride,
            } => {
                let contiguous: Vec<usize> = (0..self.shape.len())
                    .map(|i| self.shape[i + 1..].iter().product())
                    .collect();
                if *stride == contiguous || numel <= 1 {
                    let begin = offset * size;
                    self.dtype.to_f32(&storage[begin..begin + numel * size])
                } else {
                    self.dtype.gather_f32(storage, *offset, &self.shape, stride)
                }
            }
        };
        TensorF32 {
            shape: self.shape.clone(),
            data,
            stored_as: self.dtype,
        }
    }
}

/// Checks what a tensor is, before its bytes are read: a float type and a sane rank.
pub(crate) fn check_kind(key: &str, dtype: StoredDType, shape: &[usize]) -> Result<(), super::WeightErrorKind> {
    use super::WeightErrorKind as K;
    if !dtype.is_float() {
        return Err(K::UnsupportedDType {
            key: key.to_string(),
            dtype: dtype.name().to_string(),
        });
    }
    if shape.len() > super::MAX_RANK {
        return Err(K::TooManyDimensions {
            key: key.to_string(),
            rank: shape.len(),
            max: super::MAX_RANK,
        });
    }
    Ok(())
}

/// A dense tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// How it was stored in the file, before conversion to f32.
    pub stored_as: StoredDType,
}

impl TensorF32 {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}
