//! Installation and updates: the service worker, the install button, the
//! update notice and the offline indicator.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

/// A `<meta name=...>` value written into the page by the build.
pub fn page_meta(name: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let element = document.query_selector(&format!("meta[name=\"{name}\"]")).ok()??;
    element.get_attribute("content").filter(|v| !v.is_empty())
}

fn container() -> Option<ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    // Absent on plain-http hosts other than localhost.
    js_sys::Reflect::has(&navigator, &"serviceWorker".into())
        .ok()
        .filter(|has| *has)?;
    Some(navigator.service_worker())
}

/// Registers the service worker and reports when a new build has installed
/// and waits to take over.
fn register(update_ready: RwSignal<bool>, registration: StoredValue<Option<ServiceWorkerRegistration>, LocalStorage>) {
    let Some(container) = container() else { return };
    let promise = container.register("./sw.js");
    leptos::task::spawn_local(async move {
        let Ok(reg) = JsFuture::from(promise).await else { return };
        let reg: ServiceWorkerRegistration = reg.unchecked_into();
        // A waiting worker with a page already controlled is a new build.
        if reg.waiting().is_some() && container.controller().is_some() {
            update_ready.set(true);
        }
        // A build may be installing already (the browser checks on navigation,
        // before this page ran), or start installing later.
        if let Some(installing) = reg.installing() {
            watch_install(&installing, update_ready);
        }
        let watched = reg.clone();
        let on_update = Closure::<dyn FnMut()>::new(move || {
            if let Some(installing) = watched.installing() {
                watch_install(&installing, update_ready);
            }
        });
        reg.set_onupdatefound(Some(on_update.as_ref().unchecked_ref()));
        on_update.forget();
        registration.set_value(Some(reg));
    });
}

/// Reports when `installing` has installed while a page is controlled: a new
/// build waits.
fn watch_install(installing: &web_sys::ServiceWorker, update_ready: RwSignal<bool>) {
    let worker = installing.clone();
    let on_state = Closure::<dyn FnMut()>::new(move || {
        if worker.state() == ServiceWorkerState::Installed && container_controlled() {
            update_ready.set(true);
        }
    });
    installing.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
    on_state.forget();
}

fn container_controlled() -> bool {
    container().is_some_and(|c| c.controller().is_some())
}

#[component]
pub fn AppStatus() -> impl IntoView {
    let online = RwSignal::new(web_sys::window().is_none_or(|w| w.navigator().on_line()));
    let update_ready = RwSignal::new(false);
    let update_requested = StoredValue::new(false);
    let registration = StoredValue::new_local(None::<ServiceWorkerRegistration>);
    let install_prompt = StoredValue::new_local(None::<web_sys::Event>);
    let can_install = RwSignal::new(false);

    register(update_ready, registration);
    // The new build took over because the user asked: load it.
    if let Some(c) = container() {
        let on_change = Closure::<dyn FnMut()>::new(move || {
            if update_requested.get_value()
                && let Some(w) = web_sys::window()
            {
                let _ = w.location().reload();
            }
        });
        c.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
        on_change.forget();
    }

    let listeners = [
        window_event_listener_untyped("online", move |_| online.set(true)),
        window_event_listener_untyped("offline", move |_| online.set(false)),
        window_event_listener_untyped("beforeinstallprompt", move |ev| {
            // Keep the browser's offer for the install button.
            ev.prevent_default();
            install_prompt.set_value(Some(ev));
            can_install.set(true);
        }),
        window_event_listener_untyped("appinstalled", move |_| can_install.set(false)),
    ];
    on_cleanup(move || listeners.into_iter().for_each(|l| l.remove()));

    let install = move |_| {
        if let Some(ev) = install_prompt.get_value()
            && let Ok(prompt) = js_sys::Reflect::get(&ev, &"prompt".into())
            && let Some(prompt) = prompt.dyn_ref::<js_sys::Function>()
        {
            let _ = prompt.call0(&ev);
        }
        install_prompt.set_value(None);
        can_install.set(false);
    };
    let update = move |_| {
        update_requested.set_value(true);
        registration.with_value(|r| {
            if let Some(waiting) = r.as_ref().and_then(|r| r.waiting()) {
                let _ = waiting.post_message(&"take-over".into());
            }
        });
    };
    let build = page_meta("chexlens-build").unwrap_or_else(|| "development".into());

    view! {
        <div class="app-status">
            <span
                class="connection"
                data-testid="connection"
                data-state=move || if online.get() { "online" } else { "offline" }
            >
                {move || if online.get() { "Online" } else { "Offline: the app and the models kept for offline use still work" }}
            </span>
            <Show when=move || can_install.get()>
                <button data-testid="install" on:click=install>"Install app"</button>
            </Show>
            <Show when=move || update_ready.get()>
                <span role="status" data-testid="update-ready">
                    "A new version of chexlens is ready. "
                    <button data-testid="update-now" on:click=update>"Update now"</button>
                </span>
            </Show>
            <span class="build" data-testid="build">{format!("build {build}")}</span>
        </div>
    }
}
