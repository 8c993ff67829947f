//! `.safetensors`: an 8-byte little-endian header length, a JSON header, then the data.
//!
//! Read and written by our own code. The safetensors crate's reader wants
//! the whole file in memory and its header as a map, while the page reads
//! weights as they download (`stream.rs`), capping the header's entries as
//! they are parsed. Its writer orders `__metadata__` by a randomly seeded
//! hash map and the tensors by dtype: the same model would give other bytes,
//! and another sha256, at each `deploy`, and the page would download it
//! again; ours writes the same bytes every time, tensors in the model's order.

use super::error::WeightErrorKind;
use super::tensor::{Placement, StoredDType, TensorF32, TensorSlot};
use std::collections::BTreeMap;

/// The format's own cap on the header, which keeps a hostile length from allocating.
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// The header's entries, parsed straight into their types (no generic JSON
/// tree, whose size could be many times the header's) and capped in count.
struct Header(Vec<(String, Entry)>);

impl<'de> serde::Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of tensor entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        map.next_value::<BTreeMap<String, String>>()?;
                        continue;
                    }
                    if entries.len() >= super::MAX_TENSORS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {} tensors",
                            super::MAX_TENSORS
                        )));
                    }
                    let entry: Entry = map.next_value()?;
                    if entry.shape.len() > super::MAX_RANK {
                        return Err(serde::de::Error::custom(format!(
                            "'{key}' has {} dimensions",
                            entry.shape.len()
                        )));
                    }
                    entries.push((key, entry));
                }
                Ok(Header(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

pub fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[8] == b'{'
}

fn dtype_of(key: &str, name: &str) -> Result<StoredDType, WeightErrorKind> {
    Ok(match name {
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
                key: key.to_string(),
                dtype: other.chars().take(16).collect(),
            });
        }
    })
}

/// One tensor as the header describes it: its offsets are into the data
/// after the header.
pub(super) struct HeaderEntry {
    pub key: String,
    pub dtype: StoredDType,
    pub shape: Vec<usize>,
    pub begin: u64,
    pub end: u64,
}

/// Reads the length prefix: the header's length, checked against the format's cap.
pub(super) fn header_len(prefix: [u8; 8], available: u64) -> Result<u64, WeightErrorKind> {
    let header_len = u64::from_le_bytes(prefix);
    if header_len > available || header_len > MAX_HEADER_BYTES {
        return Err(WeightErrorKind::SizeMismatch {
            key: "header".into(),
            claimed: header_len,
            actual: available,
        });
    }
    Ok(header_len)
}

/// Reads the JSON header: each tensor's type, shape and byte range, in the
/// file's order, with no two ranges overlapping.
pub(super) fn read_header(json: &[u8]) -> Result<Vec<HeaderEntry>, WeightErrorKind> {
    let header_err = |m: String| WeightErrorKind::SafetensorsHeader(m);
    let Header(entries) = serde_json::from_slice(json).map_err(|e| header_err(format!("not valid ({e})")))?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        let dtype = dtype_of(&key, &entry.dtype)?;
        let [begin, end] = entry.data_offsets;
        if begin > end {
            return Err(WeightErrorKind::SizeMismatch {
                key,
                claimed: end,
                actual: begin,
            });
        }
        out.push(HeaderEntry {
            key,
            dtype,
            shape: entry.shape,
            begin,
            end,
        });
    }
    // The format lays tensors out one after another: overlapping ranges
    // would let one stretch of bytes be read as many tensors.
    let mut ranges: Vec<(u64, u64, &str)> = out.iter().map(|e| (e.begin, e.end, e.key.as_str())).collect();
    ranges.sort();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(header_err(format!("'{}' and '{}' overlap", w[0].2, w[1].2)));
    }
    Ok(out)
}

pub fn index_safetensors(bytes: &[u8]) -> Result<Vec<(String, TensorSlot<'_>)>, WeightErrorKind> {
    if bytes.len() < 8 {
        return Err(WeightErrorKind::SafetensorsHeader(
            "file shorter than its 8-byte length prefix".into(),
        ));
    }
    let header_len = header_len(bytes[..8].try_into().expect("8 bytes"), bytes.len() as u64 - 8)?;
    let header_end = 8 + header_len as usize;
    let entries = read_header(&bytes[8..header_end])?;
    let data = &bytes[header_end..];
    entries
        .into_iter()
        .map(
            |HeaderEntry {
                 key,
                 dtype,
                 shape,
                 begin,
                 end,
             }| {
                if end > data.len() as u64 {
                    return Err(WeightErrorKind::SizeMismatch {
                        key,
                        claimed: end,
                        actual: data.len() as u64,
                    });
                }
                let placement = Placement::Dense(&data[begin as usize..end as usize]);
                Ok((
                    key,
                    TensorSlot {
                        dtype,
                        shape,
                        placement,
                    },
                ))
            },
        )
        .collect()
}

/// Reads every tensor of a `.safetensors` file (tests).
#[cfg(test)]
fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, TensorF32>, WeightErrorKind> {
    index_safetensors(bytes).map(|slots| slots.into_iter().map(|(k, s)| (k, s.to_f32())).collect())
}

/// The largest finite f16.
const F16_MAX: f32 = 65504.0;

/// A written `.safetensors` file, and the tensors it had to keep in f32.
pub struct Written {
    pub bytes: Vec<u8>,
    /// Tensors with a value beyond f16's range, kept in f32 when f16 was asked for.
    pub kept_f32: Vec<String>,
}

/// Writes `tensors`, in the order given, as F32, or with `half` as F16 where
/// every value fits. `metadata` goes into the header's `__metadata__`.
pub fn write_safetensors<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a TensorF32)>,
    half: bool,
    metadata: &BTreeMap<String, String>,
) -> Written {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut data = Vec::new();
    let mut kept_f32 = Vec::new();
    for (name, tensor) in tensors {
        let begin = data.len();
        let dtype = if half && tensor.data.iter().all(|v| v.is_finite() && v.abs() <= F16_MAX) {
            data.extend(tensor.data.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()));
            "F16"
        } else {
            if half {
                kept_f32.push(name.to_string());
            }
            data.extend(tensor.data.iter().flat_map(|v| v.to_le_bytes()));
            "F32"
        };
        header.insert(
            name.to_string(),
            serde_json::json!({ "dtype": dtype, "shape": tensor.shape, "data_offsets": [begin, data.len()] }),
        );
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    // Pad the header with spaces so that the data starts 8-byte aligned.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut bytes = Vec::with_capacity(8 + json.len() + data.len());
    bytes.extend((json.len() as u64).to_le_bytes());
    bytes.extend(json);
    bytes.extend(data);
    Written { bytes, kept_f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: Vec<usize>, data: Vec<f32>) -> TensorF32 {
        TensorF32 {
            shape,
            data,
            stored_as: StoredDType::F32,
        }
    }

    #[test]
    fn written_f32_reads_back_exactly() {
        let a = tensor(vec![2, 3], vec![1.0, -2.5, 3.25e-8, 7e10, 0.0, -0.0]);
        let b = tensor(vec![1], vec![0.1]);
        let written = write_safetensors([("a", &a), ("b.c", &b)], false, &BTreeMap::new());
        let header_len = u64::from_le_bytes(written.bytes[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0, "the data starts 8-byte aligned");
        let back = read_safetensors(&written.bytes).unwrap();
        assert_eq!(back["a"].data, a.data);
        assert_eq!(back["a"].shape, vec![2, 3]);
        assert_eq!(back["b.c"].data, b.data);
        assert!(written.kept_f32.is_empty());
    }

    #[test]
    fn the_same_model_is_written_to_the_same_bytes_in_its_own_order() {
        let (a, b) = (tensor(vec![1], vec![0.5]), tensor(vec![2], vec![1.0, 2.0]));
        let metadata: BTreeMap<String, String> = [("source", "x.pth"), ("format", "pt"), ("chexlens", "0.1")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let first = write_safetensors([("z.weight", &a), ("a.weight", &b)], true, &metadata);
        for _ in 0..8 {
            assert_eq!(
                write_safetensors([("z.weight", &a), ("a.weight", &b)], true, &metadata).bytes,
                first.bytes
            );
        }
        let names: Vec<String> = index_safetensors(&first.bytes)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            names,
            ["z.weight", "a.weight"],
            "tensors in the order given, not sorted"
        );
    }

    #[test]
    fn f16_rounds_to_nearest_and_keeps_what_does_not_fit() {
        let small = tensor(vec![4], vec![1.0, 0.1, -3.0e-3, 65504.0]);
        let large = tensor(vec![2], vec![1.0, 70000.0]);
        let mut metadata = BTreeMap::new();
        metadata.insert("source".to_string(), "test".to_string());
        let written = write_safetensors([("small", &small), ("large", &large)], true, &metadata);
        assert_eq!(written.kept_f32, vec!["large".to_string()]);
        let back = read_safetensors(&written.bytes).unwrap();
        assert_eq!(back["small"].stored_as, StoredDType::F16);
        assert_eq!(back["large"].stored_as, StoredDType::F32);
        assert_eq!(back["large"].data, large.data);
        for (got, want) in back["small"].data.iter().zip(&small.data) {
            // f16 keeps 11 significant bits: half an ulp is 2^-11 relative.
            assert!((got - want).abs() <= want.abs() * 2f32.powi(-11), "{got} vs {want}");
        }
        let header_len = u64::from_le_bytes(written.bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&written.bytes[8..8 + header_len]).unwrap();
        assert_eq!(header["__metadata__"]["source"], "test");
    }
}
