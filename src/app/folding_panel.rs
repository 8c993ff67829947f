//! A panel the reader can fold away, so that the X-ray keeps the screen:
//! open at first, except on a phone's narrow screen, and opened whenever
//! `needed` says it must be (no model yet: the model panel), folded again
//! on a phone once it is not.

use leptos::html::Details;
use leptos::prelude::*;

/// Narrower than this, the page is one column and its panels start folded.
const NARROW: &str = "(max-width: 700px)";

fn narrow_screen() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media(NARROW).ok().flatten())
        .is_some_and(|m| m.matches())
}

#[component]
pub fn FoldingPanel(
    title: &'static str,
    /// Named in tests (`data-testid`).
    testid: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional, into)] needed: Option<Signal<bool>>,
    children: Children,
) -> impl IntoView {
    let details = NodeRef::<Details>::new();
    Effect::new(move |_| {
        let (Some(needed), Some(details)) = (needed, details.get()) else {
            return;
        };
        // On a phone it folds away again once it has done its work.
        if needed.get() {
            details.set_open(true);
        } else if narrow_screen() {
            details.set_open(false);
        }
    });
    view! {
        <details class=format!("panel folding {class}") node_ref=details data-testid=testid open=!narrow_screen()>
            <summary><h2>{title}</h2></summary>
            {children()}
        </details>
    }
}
