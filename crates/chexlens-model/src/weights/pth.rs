//! PyTorch `.pth` files as `torch.save` writes them: a zip archive holding
//! `<name>/data.pkl` (the pickle) and `<name>/data/<key>` (raw storages).

use super::error::WeightErrorKind;
use super::pickle::{TensorRef, Value, read_pickle};
use super::tensor::TensorF32;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// Entries under which training scripts keep the model's state dict, in the order tried.
const STATE_DICT_ENTRIES: [&str; 5] = ["model_state_dict", "state_dict", "model", "state_dict_ema", "model_ema"];

pub fn read_pth(bytes: &[u8]) -> Result<BTreeMap<String, TensorF32>, WeightErrorKind> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| WeightErrorKind::DamagedArchive(e.to_string()))?;
    let pickle_name = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i).map(str::to_string))
        .find(|name| name == "data.pkl" || name.ends_with("/data.pkl"))
        .ok_or_else(|| WeightErrorKind::MissingArchiveEntry("data.pkl".into()))?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_string();

    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}byteorder"))
        && order.as_slice() != b"little"
    {
        return Err(WeightErrorKind::BigEndian);
    }
    let pickle = read_entry(&mut archive, &pickle_name)?;
    let root = read_pickle(&pickle)?;
    let entries = state_dict_entries(&root)?;

    let mut out = BTreeMap::new();
    for (key, tensor) in entries {
        let storage_name = format!("{prefix}data/{}", tensor.storage.key);
        let storage = read_entry(&mut archive, &storage_name)?;
        out.insert(key.clone(), materialize(&key, &tensor, &storage)?);
    }
    Ok(out)
}

fn read_entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Vec<u8>, WeightErrorKind> {
    let mut file = archive.by_name(name).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => WeightErrorKind::MissingArchiveEntry(name.to_string()),
        zip::result::ZipError::UnsupportedArchive(m) => WeightErrorKind::CompressedEntry(m.to_string()),
        other => WeightErrorKind::DamagedArchive(other.to_string()),
    })?;
    if file.compression() != zip::CompressionMethod::Stored {
        return Err(WeightErrorKind::CompressedEntry(format!(
            "{name}: {}",
            file.compression()
        )));
    }
    let claimed = file.size();
    let mut buf = Vec::with_capacity(usize::try_from(claimed).unwrap_or(0).min(1 << 31));
    file.read_to_end(&mut buf)
        .map_err(|e| WeightErrorKind::DamagedArchive(format!("{name}: {e}")))?;
    Ok(buf)
}

/// Finds the state dict in the unpickled root: the root itself when its values
/// are tensors, else one of the usual training-checkpoint entries.
fn state_dict_entries(root: &Value) -> Result<Vec<(String, TensorRef)>, WeightErrorKind> {
    let Value::Dict(dict) = root else {
        return Err(WeightErrorKind::NoStateDict("the file holds no dictionary".into()));
    };
    let dict = dict.borrow();
    if let Some(entries) = tensor_entries(&dict) {
        return Ok(entries);
    }
    for wanted in STATE_DICT_ENTRIES {
        let found = dict.iter().find(|(k, _)| k.as_str() == Some(wanted));
        if let Some((_, Value::Dict(inner))) = found
            && let Some(entries) = tensor_entries(&inner.borrow())
        {
            return Ok(entries);
        }
    }
    let keys: Vec<&str> = dict.iter().filter_map(|(k, _)| k.as_str()).take(8).collect();
    Err(WeightErrorKind::NoStateDict(format!(
        "top-level entries are [{}], none of them a tensor dictionary",
        keys.join(", ")
    )))
}

fn tensor_entries(dict: &[(Value, Value)]) -> Option<Vec<(String, TensorRef)>> {
    if dict.is_empty() {
        return None;
    }
    dict.iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.clone(), t.as_ref().clone())),
            _ => None,
        })
        .collect()
}

fn materialize(key: &str, t: &TensorRef, storage: &[u8]) -> Result<TensorF32, WeightErrorKind> {
    let dtype = t.storage.dtype;
    let size = dtype.size_bytes() as u64;
    let claimed = t.storage.numel as u64 * size;
    if claimed != storage.len() as u64 {
        return Err(WeightErrorKind::SizeMismatch {
            key: format!("{key} (storage {})", t.storage.key),
            claimed,
            actual: storage.len() as u64,
        });
    }
    let numel: usize = t.shape.iter().product();
    // The last element the view touches must lie inside the storage.
    let extent = if numel == 0 {
        0
    } else {
        t.offset + t.shape.iter().zip(&t.stride).map(|(n, s)| (n - 1) * s).sum::<usize>() + 1
    };
    if extent as u64 > t.storage.numel as u64 {
        return Err(WeightErrorKind::SizeMismatch {
            key: key.to_string(),
            claimed: extent as u64 * size,
            actual: claimed,
        });
    }
    let contiguous_stride: Vec<usize> = (0..t.shape.len()).map(|i| t.shape[i + 1..].iter().product()).collect();
    let data = if t.stride == contiguous_stride || numel <= 1 {
        let begin = t.offset * dtype.size_bytes();
        dtype.to_f32(&storage[begin..begin + numel * dtype.size_bytes()])
    } else {
        dtype.gather_f32(storage, t.offset, &t.shape, &t.stride)
    };
    Ok(TensorF32 {
        shape: t.shape.clone(),
        data,
        stored_as: dtype,
    })
}
