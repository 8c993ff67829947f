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

    /// Gathers a strided view (PyTorch's size/stride/offset, in elements) into a dense f32 vector.
    pub fn gather_f32(self, storage: &[u8], offset: usize, shape: &[usize], stride: &[usize]) -> Vec<f32> {
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
