//! A member worker: holds some of the ensemble's members on the CPU backend
//! and runs them when the model worker asks, so that members run on
//! separate cores.

use super::protocol::{Envelope, FromMember, ToMember};
use crate::transport;
use chexlens_model::model::BackboneState;
use chexlens_model::{Device, Ensemble, StateDict};
use js_sys::Uint8Array;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

#[derive(Default)]
struct State {
    read: Vec<StateDict>,
    ensemble: Option<Rc<Ensemble>>,
    /// The last analysis: its id and each member's backbone state.
    last: Option<Rc<(u32, Vec<BackboneState>)>>,
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
            let reply = handle(&state, body, bytes)
                .await
                .unwrap_or_else(|message| FromMember::Failed { message });
            post(seq, reply);
        });
    });
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(0, FromMember::Ready);
}

async fn handle(state: &RefCell<State>, message: ToMember, bytes: Vec<Uint8Array>) -> Result<FromMember, String> {
    match message {
        ToMember::Read { name } => {
            let file = bytes.first().ok_or_else(|| format!("{name}: no file data received"))?;
            let weights = StateDict::read_model(&file.to_vec(), &name, None).map_err(|e| e.to_string())?;
            state.borrow_mut().read.push(weights);
            Ok(FromMember::Read)
        }
        ToMember::Build { architecture, settings } => {
            let read = std::mem::take(&mut state.borrow_mut().read);
            let ensemble =
                Ensemble::from_state_dicts(read, architecture, settings, Device::flex()).map_err(|e| e.to_string())?;
            let architecture = ensemble.architecture().clone();
            state.borrow_mut().ensemble = Some(Rc::new(ensemble));
            Ok(FromMember::Built { architecture })
        }
        ToMember::Run { id, size, metadata } => {
            let pixels = normalised_pixels(bytes.first(), size)?;
            let ensemble = loaded(state)?;
            let (images, meta) = ensemble.inputs_from_normalised(pixels, size, &metadata);
            let states = ensemble.backbone_states(&images);
            let prediction = ensemble.predict_states_async(&states, &meta).await?;
            state.borrow_mut().last = Some(Rc::new((id, states)));
            Ok(FromMember::Ran {
                logits: prediction.member_logits,
            })
        }
        ToMember::HeatMaps { id, labels, target } => {
            let ensemble = loaded(state)?;
            let last = state.borrow().last.clone();
            let Some(last) = last.filter(|last| last.0 == id) else {
                return Err("that analysis is no longer current".into());
            };
            let maps = ensemble.member_grad_cams_async(&last.1, &labels, target).await?;
            Ok(FromMember::HeatMaps { maps })
        }
    }
}

fn loaded(state: &RefCell<State>) -> Result<Rc<Ensemble>, String> {
    state
        .borrow()
        .ensemble
        .clone()
        .ok_or_else(|| "no model is loaded".into())
}

/// The image sent as little-endian f32 bytes, checked against its size.
fn normalised_pixels(bytes: Option<&Uint8Array>, size: usize) -> Result<Vec<f32>, String> {
    let bytes = bytes.map(Uint8Array::to_vec).unwrap_or_default();
    if bytes.len() != 3 * size * size * 4 {
        return Err("the image did not arrive whole".into());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
