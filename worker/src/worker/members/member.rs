//! A member worker: holds some of the ensemble's members on the CPU backend
//! and runs them when the model worker asks, so that members run on
//! separate cores.

use super::protocol::{Envelope, FromMember, ToMember};
use crate::passes::KeptPasses;
use chexlens_checkpoints::architecture::expect;
use chexlens_checkpoints::weights::WeightStream;
use chexlens_checkpoints::weights::{StateDict, WeightError, WeightErrorKind};
use chexlens_model::{Analysis, AnalysisError, Device, Ensemble};
use chexlens_web::transport;
use js_sys::Uint8Array;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// Why a member worker could not do what it was asked.
#[derive(Debug, thiserror::Error)]
enum MemberError {
    #[error("{}", crate::worker::faults::NOT_OPEN)]
    NoFile,
    #[error("{0}")]
    Weights(#[from] WeightError),
    #[error("{0}")]
    Analysis(#[from] AnalysisError),
    #[error("no model is loaded")]
    NotLoaded,
    #[error("{}", crate::worker::faults::NOT_CURRENT)]
    NotCurrent,
    #[error("the image did not arrive whole")]
    Incomplete,
}

#[derive(Default)]
struct State {
    /// The weight file being read as its pieces arrive.
    receiving: Option<WeightStream>,
    /// Where each piece is copied into this worker's memory (reused).
    piece: Vec<u8>,
    read: Vec<StateDict>,
    ensemble: Option<Rc<Ensemble>>,
    /// Kept backbone passes, for heat maps.
    kept: KeptPasses<Analysis>,
}

fn post(seq: u32, body: FromMember) {
    let (value, transfer) = transport::encode(&Envelope { seq, body }, Vec::new());
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message_with_transfer(&value, &transfer);
}

/// Starts answering the model worker.
pub fn run() {
    let state = Rc::new(RefCell::new(State::default()));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some((Envelope { seq, body }, bytes)) = transport::decode::<Envelope<ToMember>>(&event.data()) else {
            return;
        };
        let state = state.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let reply = handle(&state, body, bytes).await.unwrap_or_else(|e| match e {
                MemberError::Weights(WeightError {
                    kind: WeightErrorKind::NoRoom { needed },
                    ..
                }) => FromMember::NoRoom { needed },
                e => FromMember::Failed { message: e.to_string() },
            });
            post(seq, reply);
        });
    });
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(0, FromMember::Ready);
}

async fn handle(state: &RefCell<State>, message: ToMember, bytes: Vec<Uint8Array>) -> Result<FromMember, MemberError> {
    match message {
        ToMember::Open { name } => {
            state.borrow_mut().receiving = Some(WeightStream::new(&name, expect(None)));
            Ok(FromMember::Read { f32_bytes: None })
        }
        ToMember::Append => {
            // Each piece's tensors are read at once; the piece is dropped
            // and its room reused by the next.
            let mut state = state.borrow_mut();
            let State { receiving, piece, .. } = &mut *state;
            let stream = receiving.as_mut().ok_or(MemberError::NoFile)?;
            if let Some(bytes) = bytes.first() {
                piece.resize(bytes.length() as usize, 0);
                bytes.copy_to(piece);
                stream.push(piece)?;
            }
            Ok(FromMember::Read {
                f32_bytes: stream.f32_bytes(),
            })
        }
        ToMember::Close => {
            let stream = state.borrow_mut().receiving.take().ok_or(MemberError::NoFile)?;
            let weights = stream.finish()?;
            state.borrow_mut().read.push(weights);
            Ok(FromMember::Read { f32_bytes: None })
        }
        ToMember::Build { architecture, settings } => {
            let read = std::mem::take(&mut state.borrow_mut().read);
            let ensemble = Ensemble::from_state_dicts(read, architecture, settings, Device::flex())?;
            let architecture = ensemble.architecture().clone();
            state.borrow_mut().ensemble = Some(Rc::new(ensemble));
            Ok(FromMember::Built { architecture })
        }
        ToMember::Run { id, size, metadata } => {
            let pixels = normalised_pixels(bytes.first(), size)?;
            let ensemble = loaded(state)?;
            let (images, meta) = ensemble.inputs_from_normalised(pixels, size, &metadata);
            let analysis = ensemble.analyse_inputs(images, meta).await?;
            let logits = analysis.prediction.member_logits.clone();
            let features = analysis.member_features.clone();
            state.borrow_mut().kept.keep(id, analysis);
            Ok(FromMember::Analysed { logits, features })
        }
        ToMember::Head { id, metadata } => {
            let ensemble = loaded(state)?;
            let analysis = state.borrow().kept.get(id).ok_or(MemberError::NotCurrent)?;
            let logits = ensemble.member_logits_for(&analysis, &metadata).await?;
            Ok(FromMember::Ran { logits })
        }
        ToMember::HeatMaps { id, labels, settings } => {
            let ensemble = loaded(state)?;
            let analysis = state.borrow().kept.get(id).ok_or(MemberError::NotCurrent)?;
            let maps = ensemble.member_heat_maps(&analysis, &labels, settings).await?;
            Ok(FromMember::HeatMaps { maps })
        }
        ToMember::Score { size, metadata } => {
            let pixels = normalised_pixels(bytes.first(), size)?;
            let ensemble = loaded(state)?;
            let all = 0..ensemble.members.len();
            let logits = ensemble.logits_of(all, pixels, size, &metadata).await?;
            Ok(FromMember::Ran { logits })
        }
    }
}

fn loaded(state: &RefCell<State>) -> Result<Rc<Ensemble>, MemberError> {
    state.borrow().ensemble.clone().ok_or(MemberError::NotLoaded)
}

/// The image sent as little-endian f32 bytes, checked against its size.
fn normalised_pixels(bytes: Option<&Uint8Array>, size: usize) -> Result<Vec<f32>, MemberError> {
    let bytes = bytes.map(Uint8Array::to_vec).unwrap_or_default();
    if bytes.len() != size.saturating_mul(size).saturating_mul(12) {
        return Err(MemberError::Incomplete);
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
