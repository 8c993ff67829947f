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

/// Offers a Blob as a download through an object URL.
pub fn offer_blob(blob: &web_sys::Blob, file_name: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let url = web_sys::Url::create_object_url_with_blob(blob)
        .map_err(|_| "the browser could not hold the file for saving".to_string())?;
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
