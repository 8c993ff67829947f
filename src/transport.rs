//! Encoding protocol messages as `{ json, bytes }` JS objects.

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

/// Builds the message object and the list of buffers to transfer.
pub fn encode<T: Serialize>(message: &T, bytes: Vec<Uint8Array>) -> (JsValue, Array) {
    let object = Object::new();
    let json = serde_json::to_string(message).unwrap_or_default();
    let list = Array::new();
    let transfer = Array::new();
    for b in bytes {
        transfer.push(&b.buffer());
        list.push(&b);
    }
    let _ = Reflect::set(&object, &"json".into(), &json.into());
    let _ = Reflect::set(&object, &"bytes".into(), &list);
    (object.into(), transfer)
}

/// Reads a message object back; `None` for anything that is not one.
pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Option<(T, Vec<Uint8Array>)> {
    let json = Reflect::get(data, &"json".into()).ok()?.as_string()?;
    let message = serde_json::from_str(&json).ok()?;
    let bytes = Reflect::get(data, &"bytes".into())
        .ok()
        .and_then(|b| b.dyn_into::<Array>().ok())
        .map(|a| a.iter().filter_map(|v| v.dyn_into::<Uint8Array>().ok()).collect())
        .unwrap_or_default();
    Some((message, bytes))
}
