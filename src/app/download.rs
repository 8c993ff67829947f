//! Saving what the page made (an overlay, an export) as a file: a data:
//! or blob: URL handed to a link, so nothing is fetched or uploaded.

/// Offers `href` (a data: URL) as a download named `file_name`.
pub fn offer(href: &str, file_name: &str) {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(anchor) = document.create_element("a") else {
        return;
    };
    let anchor: web_sys::HtmlAnchorElement = anchor.unchecked_into();
    anchor.set_href(href);
    anchor.set_download(file_name);
    anchor.click();
}

/// Offers text as a download.
pub fn offer_text(text: &str, mime: &str, file_name: &str) {
    let encoded = js_sys::encode_uri_component(text);
    offer(
        &format!("data:{mime};charset=utf-8,{}", String::from(encoded)),
        file_name,
    );
}

/// Offers bytes as a download, through an object URL (an archive can be
/// far larger than a data: URL should be).
pub fn offer_bytes(bytes: &[u8], mime: &str, file_name: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let failed = |_| "the browser could not hold the file for saving".to_string();
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(failed)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    offer(&url, file_name);
    // Freed once the download has surely read it (revoking at once can cut it short).
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
    Ok(())
}
