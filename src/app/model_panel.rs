//! Choosing and loading a model, with progress and cancel.

use super::folding_panel::FoldingPanel;
use super::hub_form::HubForm;
use super::{Actions, AppState, ModelStatus};
use crate::protocol::megabytes;
use crate::protocol::{Backend, ModelSource, TooLarge};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

/// Where a site's own model manifest lives, next to the page.
const DEPLOYED_MANIFEST: &str = "models/manifest.json";

/// Asks (HEAD, same origin) whether a model manifest is deployed next to the page.
async fn deployed_manifest_exists() -> bool {
    let Some(window) = web_sys::window() else { return false };
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    let Ok(response) =
        wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(DEPLOYED_MANIFEST, &init)).await
    else {
        return false;
    };
    response.dyn_into::<web_sys::Response>().is_ok_and(|r| r.ok())
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let url = RwSignal::new(String::new());
    // A model deployed next to the page gets its own button.
    let deployed = RwSignal::new(false);
    leptos::task::spawn_local(async move {
        deployed.set(deployed_manifest_exists().await);
    });

    let on_files = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(list) = input.files() else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        input.set_value("");
        if !files.is_empty() {
            actions.load_model_files(files);
        }
    };
    let load_url = move || {
        let u = url.get_untracked();
        if u.trim().is_empty() {
            state.error.set(Some("enter the address of a model manifest".into()));
        } else {
            actions.load_model(ModelSource::ManifestUrl(u.trim().to_string()));
        }
    };

    // Open while there is no model to work with.
    let needed = Signal::derive(move || !matches!(state.model.get(), ModelStatus::Ready(_)));
    view! {
        <FoldingPanel title="Model" testid="model-panel" needed=needed>
            <div class="row">
                <button data-testid="load-demo" on:click=move |_| actions.load_model(ModelSource::Demo)>
                    "Load demo model"
                </button>
                <Show when=move || deployed.get()>
                    <button
                        data-testid="load-deployed"
                        on:click=move |_| actions.load_model(ModelSource::ManifestUrl(DEPLOYED_MANIFEST.into()))
                    >
                        "Load deployed model"
                    </button>
                </Show>
                <label class="file-button">
                    "Open model files…"
                    <input
                        type="file"
                        multiple
                        accept=".pth,.pt,.safetensors,.json"
                        data-testid="model-input"
                        on:change=on_files
                    />
                </label>
            </div>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); load_url(); }>
                <label class="sr-only" for="model-url">"Manifest address"</label>
                <input
                    id="model-url"
                    type="url"
                    placeholder="https://…/manifest.json"
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                />
                <button type="submit">"Load"</button>
            </form>
            <HubForm/>
            <ModelStatusView/>
        </FoldingPanel>
    }
}

#[component]
fn ModelStatusView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let status = move || state.model.get();
    view! {
        <div class="status" data-testid="model-status" data-state=move || status().state_name() aria-live="polite">
            {move || match status() {
                ModelStatus::None => view! { <p>"No model loaded. Try the demo, or open your own weights."</p> }.into_any(),
                ModelStatus::Loading { stage, done, total, file } => {
                    let (value, max, text) = match total {
                        Some(t) if t > 0 => (done as f64, t as f64, format!("{} {file}: {} of {}", stage.label(), megabytes(done), megabytes(t))),
                        _ => (0.0, 0.0, format!("{} {file}: {}", stage.label(), megabytes(done))),
                    };
                    view! {
                        <div>
                            <p>{text}</p>
                            {if max > 0.0 {
                                view! { <progress value=value max=max aria-label="Model load progress"></progress> }.into_any()
                            } else {
                                view! { <progress aria-label="Model load progress"></progress> }.into_any()
                            }}
                            <button on:click=move |_| actions.cancel_load()>"Cancel"</button>
                        </div>
                    }.into_any()
                }
                ModelStatus::Ready(info) => view! {
                    <div>
                        <p>
                            <strong>{info.name.clone()}</strong>
                            {match info.of_members {
                                Some(all) => format!(" — the first {} of its {all} members, on ", info.members),
                                None => format!(" — {} member{}, on ", info.members, if info.members == 1 { "" } else { "s" }),
                            }}
                            <span data-testid="backend">{info.backend.name()}</span>
                            {(info.workers > 1).then(|| view! {
                                ", in "
                                <span data-testid="workers">{info.workers}</span>
                                " workers side by side"
                            })}
                            {(info.threads > 1).then(|| view! {
                                ", on "
                                <span data-testid="threads">{info.threads}</span>
                                " threads"
                            })}
                        </p>
                        <CpuThreadsNote backend=info.backend threads=info.threads/>
                        {info.demo.then(|| view! {
                            <p class="demo-warning">"Untrained demonstration model: its numbers mean nothing."</p>
                        })}
                        <super::suitability::ReferenceStatus/>
                    </div>
                }.into_any(),
                ModelStatus::Error(message) => view! { <p class="failed">"Model not loaded: " {message}</p> }.into_any(),
                ModelStatus::TooLarge(too_large) => view! { <LoadLessOffer too_large/> }.into_any(),
            }}
        </div>
    }
}

/// A model that would not fit in memory: why, and what can be loaded instead.
#[component]
fn LoadLessOffer(too_large: TooLarge) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let fewer = too_large.fewer_members().map(|members| {
        let all = too_large.members;
        view! {
            <button data-testid="load-fewer" on:click=move |_| actions.load_less(Some(members), None)>
                {format!("Load the first {members} of its {all} members")}
            </button>
        }
    });
    let one_worker = too_large.one_worker.then(|| {
        view! {
            <button data-testid="load-one-worker" on:click=move |_| actions.load_less(None, Some(1))>
                "Load in one worker"
            </button>
        }
    });
    let nothing_fits = fewer.is_none() && one_worker.is_none();
    view! {
        <div data-testid="too-large">
            <p class="failed">"Model not loaded: " {too_large.message.clone()} "."</p>
            {if nothing_fits {
                view! { <p>"Close other tabs or use a machine with more memory."</p> }.into_any()
            } else {
                view! {
                    <p>"Nothing of it is kept. Fewer members give less accurate numbers than the whole ensemble; the page says how many it ran."</p>
                    <div class="row">{fewer}{one_worker}</div>
                }.into_any()
            }}
        </div>
    }
}

/// Why the CPU backend runs each worker on one thread, where it does: the
/// threaded worker needs a cross-origin isolated page.
#[component]
fn CpuThreadsNote(backend: Backend, threads: usize) -> impl IntoView {
    let single = backend == Backend::Cpu && threads <= 1;
    let isolated = super::worker_build::cross_origin_isolated();
    (single && !isolated).then(|| {
        view! {
            <p class="hint" data-testid="threads-note">
                "One thread per worker: this page is not cross-origin isolated, so its workers cannot share memory. "
                "Its offline copy is (from the next visit on, once installed), and there every core works on each member."
            </p>
        }
    })
}
