//! PyTorch `.pth` files as `torch.save` writes them: a zip archive holding
//! `<name>/data.pkl` (the pickle) and `<name>/data/<key>` (raw storages).
//! Storages are read in place from the file; every view is checked against
//! its storage before anything is converted.

use super::error::WeightErrorKind;
use super::pickle::{Pickle, TensorRef, Value, read_pickle};
use super::tensor::{Placement, TensorSlot};
use super::zip::StoredArchive;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Entries under which training scripts keep the model's state dict, in the order tried.
const STATE_DICT_ENTRIES: [&str; 5] = ["model_state_dict", "state_dict", "model", "state_dict_ema", "model_ema"];

pub fn index_pth(bytes: &[u8]) -> Result<Vec<(String, TensorSlot<'_>)>, WeightErrorKind> {
    let archive = StoredArchive::parse(bytes)?;
    let pickle_name = archive
        .names()
        .find(|name| *name == "data.pkl" || name.ends_with("/data.pkl"))
        .ok_or_else(|| WeightErrorKind::MissingArchiveEntry("data.pkl".into()))?
        .to_owned();
    let prefix = pickle_name.trim_end_matches("data.pkl").to_string();

    if let Ok(order) = archive.read(&format!("{prefix}byteorder"))
        && order != b"little"
    {
        return Err(WeightErrorKind::BigEndian);
    }
    let pickle = read_pickle(archive.read(&pickle_name)?)?;
    let entries = state_dict_entries(&pickle)?;

    // Each storage is looked up (and its checksum checked) once, however
    // many views share it.
    let mut storages: BTreeMap<String, &[u8]> = BTreeMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (key, tensor) in entries {
        let storage_key = &tensor.storage.key;
        let storage = match storages.get(storage_key) {
            Some(s) => *s,
            None => {
                let s = archive.read(&format!("{prefix}data/{storage_key}"))?;
                storages.insert(storage_key.clone(), s);
                s
            }
        };
        out.push((key.clone(), slot(&key, &tensor, storage)?));
    }
    Ok(out)
}

/// Finds the state dict in the unpickled root: the root itself when its values
/// are tensors, else one of the usual training-checkpoint entries.
pub(super) fn state_dict_entries(pickle: &Pickle) -> Result<Vec<(String, Rc<TensorRef>)>, WeightErrorKind> {
    let heap = &pickle.heap;
    let Some(dict) = heap.dict(&pickle.root) else {
        return Err(WeightErrorKind::NoStateDict("the file holds no dictionary".into()));
    };
    if let Some(entries) = tensor_entries(dict) {
        return Ok(entries);
    }
    for wanted in STATE_DICT_ENTRIES {
        let found = dict.iter().find(|(k, _)| k.as_str() == Some(wanted));
        if let Some((_, inner)) = found
            && let Some(entries) = heap.dict(inner).and_then(tensor_entries)
        {
            return Ok(entries);
        }
    }
    Err(no_state_dict(dict))
}

fn no_state_dict(dict: &[(Value, Value)]) -> WeightErrorKind {
    let keys: Vec<String> = dict
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .take(8)
        .map(|k| k.chars().take(80).collect())
        .collect();
    WeightErrorKind::NoStateDict(format!(
        "top-level entries are [{}], none of them a tensor dictionary",
        keys.join(", ")
    ))
}

fn tensor_entries(dict: &[(Value, Value)]) -> Option<Vec<(String, Rc<TensorRef>)>> {
    if dict.is_empty() {
        return None;
    }
    dict.iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), t.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn slot<'a>(key: &str, t: &TensorRef, storage: &'a [u8]) -> Result<TensorSlot<'a>, WeightErrorKind> {
    let dtype = t.storage.dtype;
    let claimed = (t.storage.numel as u64).saturating_mul(dtype.size_bytes() as u64);
    if claimed != storage.len() as u64 {
        return Err(WeightErrorKind::SizeMismatch {
            key: format!("{key} (storage {})", t.storage.key),
            claimed,
            actual: storage.len() as u64,
        });
    }
    Ok(TensorSlot {
        dtype,
        shape: t.shape.clone(),
        placement: Placement::Strided {
            storage,
            offset: t.offset,
            stride: t.stride.clone(),
        },
    })
}
