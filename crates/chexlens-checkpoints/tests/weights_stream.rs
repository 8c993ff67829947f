//! A weight file read as it streams in, in pieces of any size, gives
//! exactly the tensors (or the error) that reading it whole gives, for the
//! real checkpoints `torch.save` and `safetensors` wrote
//! (tools/reference/generate_fixtures.py) and for archives laid out otherwise.

use chexlens_checkpoints::architecture::expect;
use chexlens_checkpoints::weights::{CheckpointIndex, Expect, WeightStream, read_streamed};
use chexlens_checkpoints::weights::{StateDict, WeightError, WeightErrorKind};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../chexlens-model/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn streamed(bytes: &[u8], piece: usize, expect: Expect) -> Result<StateDict, WeightError> {
    let mut stream = WeightStream::new("file", expect);
    for chunk in bytes.chunks(piece.max(1)) {
        stream.push(chunk)?;
    }
    stream.finish()
}

fn whole(bytes: &[u8]) -> StateDict {
    CheckpointIndex::parse(bytes, "file").unwrap().materialise()
}

/// Piece sizes: single bytes, sizes that split every header and
/// descriptor somewhere, and the whole file.
const PIECES: [usize; 9] = [1, 3, 7, 30, 64, 1000, 4096, 65_537, usize::MAX];

#[test]
fn every_checkpoint_reads_the_same_in_pieces_of_any_size() {
    for name in [
        "tiny_m0.pth",
        "tiny_m0_f16.pth",
        "tiny_m1_checkpoint.pth",
        "tiny_m0.safetensors",
        "tiny_m0_f16.safetensors",
        "tiny_m0_bf16.safetensors",
    ] {
        let bytes = fixture(name);
        let expected = whole(&bytes);
        assert!(expected.tensors.len() > 20, "{name}");
        for piece in PIECES {
            let got = streamed(&bytes, piece, expect(None)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, expected, "{name} in {piece}-byte pieces");
        }
    }
}

#[test]
fn a_broken_checkpoint_gives_the_same_error_in_any_pieces() {
    for name in [
        "bad_truncated.pth",
        "bad_os_system.pth",
        "bad_wrong_shape.pth",
        "bad_extra_key.pth",
        "bad_safetensors_overclaim.safetensors",
    ] {
        let bytes = fixture(name);
        let once = streamed(&bytes, usize::MAX, expect(None)).unwrap_err();
        for piece in PIECES {
            let err = streamed(&bytes, piece, expect(None)).unwrap_err();
            assert_eq!(err, once, "{name} in {piece}-byte pieces");
        }
        // Every cut of the file is refused too, without a panic.
        for cut in (0..bytes.len()).step_by(997) {
            assert!(
                streamed(&bytes[..cut], 4096, Expect::Anything).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn every_cut_of_a_good_checkpoint_is_refused() {
    for name in ["tiny_m0.pth", "tiny_m0_f16.safetensors"] {
        let bytes = fixture(name);
        for cut in (0..bytes.len()).step_by(1009).chain([bytes.len() - 1]) {
            assert!(
                streamed(&bytes[..cut], 777, Expect::Anything).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}

/// A stored zip archive of `entries` in the order given, as Python's
/// zipfile writes one (sizes in the local headers, no data descriptors).
fn stored_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let fields = |out: &mut Vec<u8>| {
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        fields(&mut central);
        central.extend([0u8; 10]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let directory = out.len() as u32;
    let size = central.len() as u32;
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(directory.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The entries of a torch-written fixture, read with the whole-file reader's
/// view of them: names and bytes.
fn entries_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    // Local headers in order; torch.save's sizes follow each entry's data,
    // so they are taken from the central directory.
    let end = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let count = u16::from_le_bytes([bytes[end + 10], bytes[end + 11]]) as usize;
    let mut at = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let u16_at = |p: usize| u16::from_le_bytes([bytes[p], bytes[p + 1]]) as usize;
        let u32_at = |p: usize| u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap()) as usize;
        let (size, name_len, extra_len, comment_len) =
            (u32_at(at + 24), u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let local = u32_at(at + 42);
        let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        out.push((name, bytes[data..data + size].to_vec()));
        at += 46 + name_len + extra_len + comment_len;
    }
    out
}

#[test]
fn an_archive_with_its_pickle_last_and_no_descriptors_reads_the_same() {
    let original = fixture("tiny_m0.pth");
    let expected = whole(&original);
    let mut entries = entries_of(&original);
    assert!(entries.len() > 20);
    // Storages first, the pickle last: they wait, whole, for the pickle.
    let pickle = entries.iter().position(|(n, _)| n.ends_with("/data.pkl")).unwrap();
    let pickle = entries.remove(pickle);
    entries.push(pickle);
    let rezipped = stored_zip(&entries);
    assert_eq!(whole(&rezipped), expected);
    for piece in PIECES {
        assert_eq!(streamed(&rezipped, piece, expect(None)).unwrap(), expected);
    }
}

#[test]
fn a_central_directory_that_disagrees_with_the_entries_is_refused() {
    let mut entries = entries_of(&fixture("tiny_m0.pth"));
    entries.retain(|(n, _)| !n.ends_with("/version"));
    let mut bytes = stored_zip(&entries);
    // The directory says the last entry is one byte shorter than it is.
    let last_size = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap() + 20;
    let size = u32::from_le_bytes(bytes[last_size..last_size + 4].try_into().unwrap());
    for at in [last_size, last_size + 4] {
        bytes[at..at + 4].copy_from_slice(&(size - 1).to_le_bytes());
    }
    let err = streamed(&bytes, 4096, Expect::Anything).unwrap_err();
    assert!(
        matches!(&err.kind, WeightErrorKind::DamagedArchive(m) if m.contains("does not list")),
        "{err}"
    );
}

#[test]
fn a_wrong_checksum_is_reported_even_when_the_file_also_fails_to_parse() {
    let bytes = fixture("tiny_m0.pth");
    let cut = &bytes[..bytes.len() / 2];
    let expected = "0".repeat(64);
    let err = read_streamed(cut, "cut.pth", expect(None), Some(&expected)).unwrap_err();
    assert!(matches!(err.kind, WeightErrorKind::Sha256Mismatch { .. }), "{err}");
    // Without a checksum, the parse error itself.
    let err = read_streamed(cut, "cut.pth", expect(None), None).unwrap_err();
    assert!(matches!(err.kind, WeightErrorKind::DamagedArchive(_)), "{err}");
}

#[test]
fn the_index_is_checked_before_any_tensor_and_gives_the_f32_size() {
    let bytes = fixture("tiny_m0_f16.safetensors");
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut stream = WeightStream::new("f16", expect(None));
    stream.push(&bytes[..header]).unwrap();
    let expected = whole(&bytes);
    let f32_bytes: usize = expected.tensors.values().map(|t| t.data.len() * 4).sum();
    assert_eq!(stream.f32_bytes(), Some(f32_bytes as u64));
    // A different architecture's shapes are refused at the header.
    let pth = fixture("bad_wrong_shape.pth");
    let mut stream = WeightStream::new("wrong", expect(None));
    let pickle_end = pth.windows(4).position(|w| w == b"PK\x07\x08").unwrap() + 64;
    let err = stream.push(&pth[..pickle_end]).unwrap_err();
    assert!(
        matches!(
            err.kind,
            WeightErrorKind::Architecture(_) | WeightErrorKind::ShapeMismatch { .. }
        ),
        "{err}"
    );
}

/// The `weights_stream` fuzz target's check: the input's first byte picks
/// piece sizes; pieces never change the outcome, and what the stream
/// accepts the whole-file reader accepts with the same tensors.
fn read_in_pieces(file: &[u8], pieces: &[usize]) -> Result<StateDict, WeightError> {
    let mut stream = WeightStream::new("fuzz", Expect::Anything);
    let (mut at, mut i) = (0, 0);
    while at < file.len() {
        let end = file.len().min(at.saturating_add(pieces[i % pieces.len()]));
        stream.push(&file[at..end])?;
        (at, i) = (end, i + 1);
    }
    stream.finish()
}

fn bits(d: &StateDict) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    d.tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.shape.clone(), t.data.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn check_pieces(data: &[u8], name: &str) {
    let Some((&seed, file)) = data.split_first() else {
        return;
    };
    let seed = seed as usize;
    let once = read_in_pieces(file, &[usize::MAX]);
    let pieces = read_in_pieces(file, &[1 + seed % 7, 1 + seed * 31 % 4099, 64]);
    match (&once, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(bits(a), bits(b), "{name}: different tensors in pieces"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{name}: a different error in pieces"),
        _ => panic!("{name}: pieces changed the outcome: {once:?} vs {pieces:?}"),
    }
    if let Ok(streamed) = once {
        let whole = CheckpointIndex::parse(file, "fuzz")
            .unwrap_or_else(|e| panic!("{name}: the whole-file reader refuses what the stream accepted: {e}"))
            .materialise();
        assert_eq!(
            bits(&streamed),
            bits(&whole),
            "{name}: the whole-file reader reads other tensors"
        );
    }
}

/// Every input the fuzz target found a fault with, kept as a regression.
#[test]
fn inputs_the_fuzzer_found_now_pass_its_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stream_regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        check_pieces(&std::fs::read(&path).unwrap(), &path.display().to_string());
        count += 1;
    }
    assert!(count > 0, "no regressions in {}", dir.display());
}
