//! Reference statistics as a `.safetensors` file, written and read by
//! chexlens-checkpoints' safetensors code.
//!
//! Per member m, all f32: `members.{m}.mean` `[C]`, `members.{m}.precision`
//! `[C, C]`, `members.{m}.distances` `[N]` (ascending), `members.{m}.threshold`
//! `[1]` and `members.{m}.shrinkage` `[1]`. The header's `__metadata__`:
//! `{"format": "chexlens-reference-statistics", "version": "1",
//! "percentile": "99", "images": "N"}`.
//!
//! A file may come from anywhere: every size is checked against a hard
//! bound before anything is allocated, and every value against what the
//! fit can produce, each failure with its own message.

use crate::error::ReferenceError;
use crate::statistics::{MAX_FEATURES, MAX_REFERENCE_IMAGES, MemberStatistics, ReferenceStatistics};
use chexlens_checkpoints::manifest::MAX_MEMBERS;
use chexlens_checkpoints::weights::{CheckpointIndex, StoredDType, TensorF32, TensorSlot, write_safetensors};
use std::collections::BTreeMap;

/// Files above this are refused before they are parsed (3 members of 1024
/// features and 100 000 images are 14 MB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

const FORMAT: &str = "chexlens-reference-statistics";
const VERSION: &str = "1";

/// Each member's tensors: the name's last part, and what it is in messages.
const TENSORS: [(&str, &str); 5] = [
    ("mean", "mean"),
    ("precision", "precision matrix"),
    ("distances", "reference distances"),
    ("threshold", "threshold"),
    ("shrinkage", "shrinkage"),
];

/// The statistics as the bytes of a `.safetensors` file; the same
/// statistics give the same bytes.
pub fn to_bytes(stats: &ReferenceStatistics) -> Vec<u8> {
    let tensors = tensors(stats);
    write_safetensors(
        tensors.iter().map(|(name, t)| (name.as_str(), t)),
        false,
        &metadata(stats),
    )
    .bytes
}

/// Every member's five tensors, named, in the order they are written.
fn tensors(stats: &ReferenceStatistics) -> Vec<(String, TensorF32)> {
    let tensor = |shape: Vec<usize>, data: Vec<f32>| TensorF32 {
        shape,
        data,
        stored_as: StoredDType::F32,
    };
    let mut tensors = Vec::with_capacity(stats.members.len() * TENSORS.len());
    for (m, member) in stats.members.iter().enumerate() {
        let c = member.features();
        let values = [
            tensor(vec![c], member.mean.clone()),
            tensor(vec![c, c], member.precision.clone()),
            tensor(vec![member.distances.len()], member.distances.clone()),
            tensor(vec![1], vec![member.threshold]),
            tensor(vec![1], vec![member.shrinkage as f32]),
        ];
        tensors.extend(
            TENSORS
                .iter()
                .zip(values)
                .map(|((name, _), t)| (format!("members.{m}.{name}"), t)),
        );
    }
    tensors
}

fn metadata(stats: &ReferenceStatistics) -> BTreeMap<String, String> {
    [
        ("format", FORMAT.to_string()),
        ("version", VERSION.to_string()),
        // Rust prints the shortest text that reads back as the same f64.
        ("percentile", stats.percentile.to_string()),
        ("images", stats.images.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Reads statistics written by [`to_bytes`], checking every size, shape
/// and value first; never panics, whatever the bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<ReferenceStatistics, ReferenceError> {
    if bytes.is_empty() {
        return Err(ReferenceError::EmptyFile);
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReferenceError::FileTooLarge {
            found: bytes.len() as u64,
            max: MAX_FILE_BYTES,
        });
    }
    // Checked here, or a zip would be read as a PyTorch checkpoint.
    if bytes.len() < 9 || bytes[8] != b'{' {
        return Err(ReferenceError::NotSafetensors(
            "it does not open with a safetensors header".into(),
        ));
    }
    let index = CheckpointIndex::parse(bytes, "reference statistics")
        .map_err(|e| ReferenceError::NotSafetensors(e.kind.to_string()))?;
    let (percentile, images) = read_metadata(bytes)?;
    let members = member_slots(&index.tensors)?
        .iter()
        .enumerate()
        .map(|(m, slots)| read_member(m, slots, images))
        .collect::<Result<_, _>>()?;
    Ok(ReferenceStatistics {
        percentile,
        images,
        members,
    })
}

/// The header's `__metadata__` and nothing else of it (the other entries
/// are skipped, not built).
#[derive(serde::Deserialize)]
struct HeaderMetadata {
    #[serde(rename = "__metadata__", default)]
    metadata: BTreeMap<String, String>,
}

/// The percentile and the image count, once format and version are ours.
fn read_metadata(bytes: &[u8]) -> Result<(f64, usize), ReferenceError> {
    let not_safetensors = || ReferenceError::NotSafetensors("its header is cut short".into());
    let length = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(not_safetensors)?
            .try_into()
            .map_err(|_| not_safetensors())?,
    );
    let end = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(8))
        .ok_or_else(not_safetensors)?;
    let header = bytes.get(8..end).ok_or_else(not_safetensors)?;
    let HeaderMetadata { metadata } =
        serde_json::from_slice(header).map_err(|e| ReferenceError::NotSafetensors(format!("header: {e}")))?;
    let format = metadata.get("format");
    if format.map(String::as_str) != Some(FORMAT) {
        return Err(ReferenceError::WrongFormat(format.map(|f| clip(f))));
    }
    let version = metadata
        .get("version")
        .ok_or(ReferenceError::MissingMetadata("version"))?;
    if version != VERSION {
        return Err(ReferenceError::UnsupportedVersion(clip(version)));
    }
    let percentile = metadata
        .get("percentile")
        .ok_or(ReferenceError::MissingMetadata("percentile"))?;
    let percentile = percentile
        .parse::<f64>()
        .ok()
        .filter(|p| *p > 0.0 && *p <= 100.0)
        .ok_or_else(|| ReferenceError::BadMetadata {
            key: "percentile",
            value: clip(percentile),
            expected: "a number above 0 and at most 100",
        })?;
    let images = metadata
        .get("images")
        .ok_or(ReferenceError::MissingMetadata("images"))?;
    let images = images
        .parse::<usize>()
        .ok()
        .filter(|n| (2..=MAX_REFERENCE_IMAGES).contains(n))
        .ok_or_else(|| ReferenceError::BadMetadata {
            key: "images",
            value: clip(images),
            expected: "a count from 2 to 1000000",
        })?;
    Ok((percentile, images))
}

/// A value from a file, cut short enough for a message.
fn clip(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(SHOWN).collect::<String>())
    }
}

type MemberSlots<'a, 'b> = [&'a TensorSlot<'b>; TENSORS.len()];

/// Each member's five tensors, members numbered from 0 with none missing.
fn member_slots<'a, 'b>(
    tensors: &'a BTreeMap<String, TensorSlot<'b>>,
) -> Result<Vec<MemberSlots<'a, 'b>>, ReferenceError> {
    let mut found: Vec<[Option<&TensorSlot>; TENSORS.len()]> = Vec::new();
    for (name, slot) in tensors {
        let unexpected = || ReferenceError::UnexpectedTensor(clip(name));
        let (member, field) = name
            .strip_prefix("members.")
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(unexpected)?;
        let field = TENSORS.iter().position(|(n, _)| *n == field).ok_or_else(unexpected)?;
        // Only the digits `to_bytes` writes: "01" or "+1" would be a second member 1.
        let member: usize = member
            .parse()
            .ok()
            .filter(|m: &usize| m.to_string() == member)
            .ok_or_else(unexpected)?;
        if member >= MAX_MEMBERS {
            return Err(ReferenceError::TooManyMembers {
                found: member + 1,
                max: MAX_MEMBERS,
            });
        }
        if found.len() <= member {
            found.resize(member + 1, [None; TENSORS.len()]);
        }
        found[member][field] = Some(slot);
    }
    if found.is_empty() {
        return Err(ReferenceError::NoMembers);
    }
    found
        .into_iter()
        .enumerate()
        .map(|(member, slots)| {
            let mut out: Vec<&TensorSlot> = Vec::with_capacity(TENSORS.len());
            for (slot, (_, what)) in slots.iter().zip(TENSORS) {
                out.push(slot.ok_or(ReferenceError::MissingTensor { member, what })?);
            }
            Ok(out.try_into().expect("one slot per tensor"))
        })
        .collect()
}

/// One member's statistics, every shape checked before a value is read.
fn read_member(member: usize, slots: &MemberSlots, images: usize) -> Result<MemberStatistics, ReferenceError> {
    let name = |field: usize| format!("members.{member}.{}", TENSORS[field].0);
    for (field, slot) in slots.iter().enumerate() {
        if slot.dtype != StoredDType::F32 {
            return Err(ReferenceError::TensorDType {
                name: name(field),
                dtype: slot.dtype.name(),
            });
        }
    }
    let c = match slots[0].shape.as_slice() {
        &[c] if (1..=MAX_FEATURES).contains(&c) => c,
        _ => return Err(shape_error(name(0), slots[0], "[C], C from 1 to 2048 features".into())),
    };
    let expected: [(Vec<usize>, String); 4] = [
        (vec![c, c], format!("[{c}, {c}], as its mean has {c} features")),
        (vec![images], format!("[{images}], one per reference image")),
        (vec![1], "[1]".into()),
        (vec![1], "[1]".into()),
    ];
    for (field, (shape, description)) in expected.into_iter().enumerate().map(|(i, e)| (i + 1, e)) {
        if slots[field].shape != shape {
            return Err(shape_error(name(field), slots[field], description));
        }
    }
    let values: Vec<Vec<f32>> = slots.iter().map(|slot| slot.to_f32().data).collect();
    if let Some(field) = values.iter().position(|v| v.iter().any(|x| !x.is_finite())) {
        return Err(ReferenceError::NonFiniteValue(name(field)));
    }
    let [mean, precision, distances, threshold, shrinkage]: [Vec<f32>; 5] =
        values.try_into().expect("one value list per tensor");
    let stats = MemberStatistics {
        mean,
        precision,
        shrinkage: f64::from(shrinkage[0]),
        distances,
        threshold: threshold[0],
    };
    crate::statistics::check_values(member, &stats)?;
    Ok(stats)
}

fn shape_error(name: String, slot: &TensorSlot, expected: String) -> ReferenceError {
    ReferenceError::TensorShape {
        name,
        found: slot.shape.clone(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferenceError as E;

    /// Two members fitted on 6 images of 3 features.
    fn fitted() -> ReferenceStatistics {
        let member = |offset: f32| -> Vec<Vec<f32>> {
            (0..6)
                .map(|i| {
                    (0..3)
                        .map(|f| ((i * 3 + f) as f32 * 0.7 + offset).sin() + f as f32)
                        .collect()
                })
                .collect()
        };
        ReferenceStatistics::fit(&[member(0.0), member(1.0)], 97.5).unwrap()
    }

    /// A file written from `stats`' tensors and metadata after `edit`.
    fn edited(edit: impl FnOnce(&mut Vec<(String, TensorF32)>, &mut BTreeMap<String, String>)) -> Vec<u8> {
        let stats = fitted();
        let (mut tensors, mut metadata) = (tensors(&stats), metadata(&stats));
        edit(&mut tensors, &mut metadata);
        write_safetensors(tensors.iter().map(|(n, t)| (n.as_str(), t)), false, &metadata).bytes
    }

    fn with_metadata(key: &str, value: Option<&str>) -> Vec<u8> {
        edited(|_, metadata| match value {
            Some(v) => drop(metadata.insert(key.into(), v.into())),
            None => drop(metadata.remove(key)),
        })
    }

    fn tensor_mut<'a>(tensors: &'a mut [(String, TensorF32)], name: &str) -> &'a mut TensorF32 {
        &mut tensors.iter_mut().find(|(n, _)| n == name).unwrap().1
    }

    fn with_values(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Vec<u8> {
        edited(|tensors, _| {
            let t = tensor_mut(tensors, name);
            (t.shape, t.data) = (shape, data);
        })
    }

    fn error(bytes: &[u8]) -> ReferenceError {
        from_bytes(bytes).unwrap_err()
    }

    #[test]
    fn statistics_read_back_exactly() {
        let stats = fitted();
        let bytes = to_bytes(&stats);
        assert_eq!(from_bytes(&bytes).unwrap(), stats);
        assert_eq!(to_bytes(&from_bytes(&bytes).unwrap()), bytes, "the same bytes again");
        let index = CheckpointIndex::parse(&bytes, "t").unwrap();
        let names: Vec<&str> = index.tensors.keys().map(String::as_str).collect();
        assert_eq!(names.len(), 10);
        assert!(names.contains(&"members.1.precision") && names.contains(&"members.0.shrinkage"));
    }

    #[test]
    fn files_that_are_not_statistics_are_named_as_such() {
        assert_eq!(error(b""), E::EmptyFile);
        let huge = vec![0u8; (MAX_FILE_BYTES + 1) as usize];
        assert!(matches!(error(&huge), E::FileTooLarge { .. }));
        assert!(matches!(error(b"PK\x03\x04 a zip archive"), E::NotSafetensors(_)));
        let mut broken = 16u64.to_le_bytes().to_vec();
        broken.extend(b"{\"a\": nonsense  ");
        assert!(matches!(error(&broken), E::NotSafetensors(_)));
        let mut overlong = 1000u64.to_le_bytes().to_vec();
        overlong.extend(b"{}");
        assert!(matches!(error(&overlong), E::NotSafetensors(_)));
        assert_eq!(error(&with_metadata("format", None)), E::WrongFormat(None));
        let weights = error(&with_metadata("format", Some("pt")));
        assert_eq!(weights, E::WrongFormat(Some("pt".into())));
        assert!(weights.to_string().contains("not a chexlens reference statistics file"));
    }

    #[test]
    fn bad_metadata_is_named() {
        assert_eq!(error(&with_metadata("version", None)), E::MissingMetadata("version"));
        assert_eq!(
            error(&with_metadata("version", Some("2"))),
            E::UnsupportedVersion("2".into())
        );
        assert_eq!(
            error(&with_metadata("percentile", None)),
            E::MissingMetadata("percentile")
        );
        assert_eq!(error(&with_metadata("images", None)), E::MissingMetadata("images"));
        for value in ["0", "100.5", "-3", "NaN", "ninety"] {
            let err = error(&with_metadata("percentile", Some(value)));
            assert!(
                matches!(err, E::BadMetadata { key: "percentile", .. }),
                "{value}: {err}"
            );
        }
        for value in ["1", "1000001", "-6", "6.0", ""] {
            let err = error(&with_metadata("images", Some(value)));
            assert!(matches!(err, E::BadMetadata { key: "images", .. }), "{value}: {err}");
        }
        let long = "x".repeat(10_000);
        assert!(error(&with_metadata("version", Some(&long))).to_string().len() < 200);
    }

    #[test]
    fn tensors_are_named_and_numbered_as_written() {
        let renamed = |from: &'static str, to: &'static str| {
            edited(move |tensors, _| tensors.iter_mut().find(|(n, _)| n == from).unwrap().0 = to.into())
        };
        for name in [
            "members.0.bias",
            "weights",
            "members.01.mean",
            "members.+1.mean",
            "members.x.mean",
        ] {
            assert_eq!(
                error(&renamed("members.1.mean", name)),
                E::UnexpectedTensor(name.into())
            );
        }
        let err = error(&renamed("members.1.mean", "members.16.mean"));
        assert_eq!(err, E::TooManyMembers { found: 17, max: 16 });
        assert_eq!(error(&edited(|tensors, _| tensors.clear())), E::NoMembers);
        let missing = error(&edited(|tensors, _| {
            tensors.retain(|(n, _)| n != "members.1.precision")
        }));
        assert_eq!(
            missing.to_string(),
            "reference statistics: member 1 has no precision matrix"
        );
        // Members 0 and 2: member 1 is missing whole.
        let gap = error(&edited(|tensors, _| {
            tensors
                .iter_mut()
                .for_each(|(n, _)| *n = n.replace("members.1.", "members.2."))
        }));
        assert_eq!(
            gap,
            E::MissingTensor {
                member: 1,
                what: "mean"
            }
        );
    }

    #[test]
    fn shapes_and_storage_are_checked_before_values_are_read() {
        let stats = fitted();
        let half = write_safetensors(
            tensors(&stats).iter().map(|(n, t)| (n.as_str(), t)),
            true,
            &metadata(&stats),
        );
        assert_eq!(
            error(&half.bytes),
            E::TensorDType {
                name: "members.0.mean".into(),
                dtype: "f16"
            }
        );
        let shape = |name: &str, shape: Vec<usize>| {
            let numel = shape.iter().product();
            match error(&with_values(name, shape, vec![1.0; numel])) {
                E::TensorShape { name, .. } => name,
                other => panic!("{other}"),
            }
        };
        assert_eq!(shape("members.0.mean", vec![0]), "members.0.mean");
        assert_eq!(shape("members.0.mean", vec![MAX_FEATURES + 1]), "members.0.mean");
        assert_eq!(shape("members.0.mean", vec![3, 1]), "members.0.mean");
        assert_eq!(shape("members.1.precision", vec![3, 4]), "members.1.precision");
        assert_eq!(shape("members.0.distances", vec![7]), "members.0.distances");
        assert_eq!(shape("members.0.threshold", vec![2]), "members.0.threshold");
        assert_eq!(shape("members.1.shrinkage", vec![]), "members.1.shrinkage");
        let err = error(&with_values("members.0.distances", vec![5], vec![1.0; 5]));
        assert_eq!(
            err.to_string(),
            "reference statistics: 'members.0.distances' has shape [5], expected [6], one per reference image"
        );
    }

    #[test]
    fn values_are_checked_against_what_a_fit_gives() {
        let stats = fitted();
        let d = |m: usize| stats.members[m].distances.clone();
        let mut nan_mean = stats.members[1].mean.clone();
        nan_mean[2] = f32::NAN;
        assert_eq!(
            error(&with_values("members.1.mean", vec![3], nan_mean)),
            E::NonFiniteValue("members.1.mean".into())
        );
        let descending: Vec<f32> = d(0).into_iter().rev().collect();
        assert_eq!(
            error(&with_values("members.0.distances", vec![6], descending)),
            E::UnorderedDistances(0)
        );
        let mut negative = d(1);
        negative[0] = -0.5;
        assert_eq!(
            error(&with_values("members.1.distances", vec![6], negative)),
            E::UnorderedDistances(1)
        );
        for threshold in [0.0, d(0)[5] * 2.0, d(0)[0] * 0.5] {
            let err = error(&with_values("members.0.threshold", vec![1], vec![threshold]));
            assert!(
                matches!(err, E::ThresholdOutsideDistances { member: 0, .. }),
                "{threshold}: {err}"
            );
        }
        for shrinkage in [-0.1, 1.5] {
            let err = error(&with_values("members.1.shrinkage", vec![1], vec![shrinkage]));
            assert!(matches!(err, E::Shrinkage { member: 1, .. }), "{err}");
        }
        let mut asymmetric = stats.members[0].precision.clone();
        asymmetric[1] += 0.25;
        assert_eq!(
            error(&with_values("members.0.precision", vec![3, 3], asymmetric)),
            E::Precision(0)
        );
        let mut zero_diagonal = stats.members[1].precision.clone();
        zero_diagonal[4] = 0.0;
        assert_eq!(
            error(&with_values("members.1.precision", vec![3, 3], zero_diagonal)),
            E::Precision(1)
        );
    }

    #[test]
    fn damaged_files_give_errors_not_panics() {
        let bytes = to_bytes(&fitted());
        for end in 0..bytes.len() {
            assert!(from_bytes(&bytes[..end]).is_err(), "cut at {end}");
        }
        for position in 0..bytes.len() {
            for value in [0x00, 0xff, b'9', b'"'] {
                let mut damaged = bytes.clone();
                damaged[position] = value;
                let _ = from_bytes(&damaged);
            }
        }
    }
}
