//! Saving what the page made (an overlay, an export) as a file: a data:
//! URL handed to a link, so nothing is fetched or uploaded.

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
