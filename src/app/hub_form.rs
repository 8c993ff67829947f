//! "Load from Hugging Face": a Hub repository, its revision, and a token for
//! private repositories. The token lives in this form's field until the load
//! starts, then goes to the worker with the request and is cleared here; it
//! is never stored, put in the address, or sent anywhere but the Hub.

use super::{Actions, AppState};
use crate::protocol::ModelSource;
use chexlens_hub::{DEFAULT_ENDPOINT, HubRepo};
use leptos::prelude::*;

/// One labelled text field of the form, never autocompleted or spell-checked.
#[component]
fn Field(
    label: &'static str,
    testid: &'static str,
    value: RwSignal<String>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] placeholder: &'static str,
    #[prop(default = false)] required: bool,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input
                type=kind
                data-testid=testid
                placeholder=placeholder
                autocomplete="off"
                spellcheck="false"
                required=required
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </label>
    }
}

#[component]
pub fn HubForm() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let repo = RwSignal::new(String::new());
    let revision = RwSignal::new("main".to_string());
    let token = RwSignal::new(String::new());
    let endpoint = RwSignal::new(DEFAULT_ENDPOINT.to_string());

    let submit = move || {
        let revision = revision.get_untracked();
        let revision = revision.trim();
        let named = match revision {
            "" | "main" => repo.get_untracked().trim().to_string(),
            r => format!("{}@{r}", repo.get_untracked().trim()),
        };
        if let Err(e) = named.parse::<HubRepo>() {
            state.error.set(Some(e.to_string()));
            return;
        }
        let secret = token.get_untracked().trim().to_string();
        token.set(String::new());
        actions.load_model(ModelSource::Hub {
            endpoint: endpoint.get_untracked().trim().to_string(),
            repo: named,
            token: (!secret.is_empty()).then_some(secret),
        });
    };

    view! {
        <details class="hub">
            <summary>"Load from Hugging Face"</summary>
            <form class="hub-form" data-testid="hub-form" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <Field label="Repository" testid="hub-repo" value=repo placeholder="owner/name" required=true/>
                <Field label="Revision" testid="hub-revision" value=revision/>
                <Field label="Access token (private repositories)" testid="hub-token" value=token kind="password" placeholder="hf_…"/>
                <Field label="Hub address" testid="hub-endpoint" value=endpoint kind="url"/>
                <p class="hint">
                    "The token is sent only to the Hub with this download, and is not kept. "
                    "The model's files are kept for offline use like any other model."
                </p>
                <button type="submit" data-testid="hub-load">"Load from the Hub"</button>
            </form>
        </details>
    }
}
