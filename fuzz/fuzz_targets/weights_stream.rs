//! Weight files read as they stream in, in pieces whose sizes the input
//! chooses (its first byte): the same tensors or error in any pieces as in
//! one, and nothing that the whole-file reader refuses is accepted, with
//! the same tensors where both accept.
#![no_main]
use chexlens_checkpoints::weights::StateDict;
use chexlens_checkpoints::weights::{CheckpointIndex, Expect, WeightStream};
use libfuzzer_sys::fuzz_target;

fn read(file: &[u8], pieces: &[usize]) -> Result<StateDict, chexlens_checkpoints::weights::WeightError> {
    let mut stream = WeightStream::new("fuzz", Expect::Anything);
    let (mut at, mut i) = (0, 0);
    while at < file.len() {
        let end = file.len().min(at.saturating_add(pieces[i % pieces.len()]));
        stream.push(&file[at..end])?;
        (at, i) = (end, i + 1);
    }
    stream.finish()
}

/// Equal tensors, NaN bits included.
fn same(a: &StateDict, b: &StateDict) -> bool {
    a.tensors.len() == b.tensors.len()
        && a.tensors.iter().zip(&b.tensors).all(|((ka, ta), (kb, tb))| {
            ka == kb
                && ta.shape == tb.shape
                && ta.stored_as == tb.stored_as
                && ta.data.iter().map(|v| v.to_bits()).eq(tb.data.iter().map(|v| v.to_bits()))
        })
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, file)) = data.split_first() else {
        return;
    };
    let seed = seed as usize;
    let once = read(file, &[usize::MAX]);
    let pieces = read(file, &[1 + seed % 7, 1 + seed * 31 % 4099, 64]);
    match (&once, &pieces) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "different tensors in pieces"),
        (Err(a), Err(b)) => assert_eq!(a, b, "a different error in pieces"),
        _ => panic!("pieces changed the outcome: {:?} vs {:?}", once.is_ok(), pieces.is_ok()),
    }
    if let Ok(streamed) = once {
        let whole = CheckpointIndex::parse(file, "fuzz")
            .expect("the whole-file reader refuses what the stream accepted")
            .materialise();
        assert!(same(&streamed, &whole), "the whole-file reader reads other tensors");
    }
});
