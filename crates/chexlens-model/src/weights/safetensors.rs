//! `.safetensors`: an 8-byte little-endian header length, a JSON header, then the data.

use super::error::WeightErrorKind;
use super::tensor::{StoredDType, TensorF32};
use std::collections::BTreeMap;

/// The format's own cap on the header, which keeps a hostile length from allocating.
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

#[derive(serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

pub fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[8] == b'{'
}

pub fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, TensorF32>, WeightErrorKind> {
    let header_err = |m: String| WeightErrorKind::SafetensorsHeader(m);
    if bytes.len() < 8 {
        return Err(header_err("file shorter than its 8-byte length prefix".into()));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let available = bytes.len() as u64 - 8;
    if header_len > available || header_len > MAX_HEADER_BYTES {
        return Err(WeightErrorKind::SizeMismatch {
            key: "header".into(),
            claimed: header_len,
            actual: available,
        });
    }
    let header_end = 8 + header_len as usize;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..header_end]).map_err(|e| header_err(format!("not valid JSON ({e})")))?;
    let data = &bytes[header_end..];

    let mut out = BTreeMap::new();
    for (key, value) in raw {
        if key == "__metadata__" {
            continue;
        }
        let entry: Entry =
            serde_json::from_value(value).map_err(|e| header_err(format!("entry '{key}' is malformed ({e})")))?;
        let dtype = match entry.dtype.as_str() {
            "F32" => StoredDType::F32,
            "F16" => StoredDType::F16,
            "BF16" => StoredDType::BF16,
            "F64" => StoredDType::F64,
            "I64" => StoredDType::I64,
            "I32" => StoredDType::I32,
            "I16" => StoredDType::I16,
            "I8" => StoredDType::I8,
            "U8" => StoredDType::U8,
            "BOOL" => StoredDType::Bool,
            other => {
                return Err(WeightErrorKind::UnsupportedDType {
                    key,
                    dtype: other.to_string(),
                });
            }
        };
        let [begin, end] = entry.data_offsets;
        if end > data.len() as u64 {
            return Err(WeightErrorKind::SizeMismatch {
                key,
                claimed: end,
                actual: data.len() as u64,
            });
        }
        let numel = entry
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| header_err(format!("entry '{key}' has an absurd shape")))?;
        let needed = numel.saturating_mul(dtype.size_bytes() as u64);
        if begin > end || end - begin != needed {
            return Err(WeightErrorKind::SizeMismatch {
                key,
                claimed: needed,
                actual: end.saturating_sub(begin),
            });
        }
        let data = dtype.to_f32(&data[begin as usize..end as usize]);
        out.insert(
            key,
            TensorF32 {
                shape: entry.shape,
                data,
                stored_as: dtype,
            },
        );
    }
    Ok(out)
}
