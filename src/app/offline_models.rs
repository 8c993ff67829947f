//! The models kept for offline use: which, how large, load or remove them.

use super::folding_panel::FoldingPanel;
use super::{Actions, AppState, ModelStatus};
use crate::model_cache::{CachedModel, ModelCache};
use crate::protocol::ModelSource;
use crate::protocol::megabytes;
use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Lists what is kept; `tidy` first removes the files of loads that ended
/// with their tab.
fn refresh(models: RwSignal<Vec<CachedModel>>, tidy: bool) {
    leptos::task::spawn_local(async move {
        if let Some(cache) = ModelCache::open().await {
            if tidy {
                cache.remove_strays().await;
            }
            models.set(cache.models().await);
        }
    });
}

/// Asks the browser to keep the cache when space runs low; reports the answer.
fn persist(persisted: RwSignal<Option<bool>>) {
    let Some(storage) = web_sys::window().map(|w| w.navigator().storage()) else {
        return;
    };
    let Ok(promise) = storage.persist() else { return };
    leptos::task::spawn_local(async move {
        if let Ok(granted) = JsFuture::from(promise).await {
            persisted.set(granted.as_bool());
        }
    });
}

#[component]
pub fn OfflineModels() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<Actions>();
    let models = RwSignal::new(Vec::<CachedModel>::new());
    let persisted = RwSignal::new(None::<bool>);
    refresh(models, true);
    // A model that just became available offline: list it, and ask to keep it.
    Effect::new(move |_| {
        if let ModelStatus::Ready(info) = state.model.get() {
            refresh(models, false);
            if info.offline {
                persist(persisted);
            }
        }
    });
    let remove = move |model: CachedModel| {
        leptos::task::spawn_local(async move {
            if let Some(cache) = ModelCache::open().await {
                cache.remove(&model).await;
                models.set(cache.models().await);
            }
        });
    };

    view! {
        <FoldingPanel title="Kept for offline use" testid="offline-panel" class="offline-models">
            <Show
                when=move || !models.get().is_empty()
                fallback=|| view! {
                    <p class="hint" data-testid="no-cached-models">
                        "None yet. A model loaded from an address is kept here after its first complete download."
                    </p>
                }
            >
                <ul class="cached-models">
                    <For each=move || models.get() key=|m| m.key.clone() let:model>
                        {
                            let (load, gone) = (model.clone(), model.clone());
                            view! {
                                <li data-testid="cached-model" data-name=model.name.clone()>
                                    <span class="name">{model.name.clone()}</span>
                                    " "
                                    <span class="size" data-testid="cached-size">{megabytes(model.bytes)}</span>
                                    " "
                                    <button on:click=move |_| actions.load_model(ModelSource::ManifestUrl(load.source.clone()))>
                                        "Load"
                                    </button>
                                    <button data-testid="remove-cached" on:click=move |_| remove(gone.clone())>"Remove"</button>
                                </li>
                            }
                        }
                    </For>
                </ul>
                <p class="hint">
                    {move || match persisted.get() {
                        Some(true) => "The browser keeps these until you remove them.",
                        Some(false) => "The browser may clear these when disk space runs low.",
                        None => "",
                    }}
                </p>
            </Show>
        </FoldingPanel>
    }
}
