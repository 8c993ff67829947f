//! Window/level for grey images, on their values at full depth (a DICOM's
//! modality values, a 16-bit PNG's samples), not on the 8-bit preview:
//! presets (the file's windows, the full range, a percentile stretch, CT's
//! windows for Hounsfield units) in the viewer's toolbar, level and width
//! typed in below the image, and the values in effect shown. Display only.

use super::Levels;
use chexlens_images::window::Window;
use leptos::prelude::*;

/// The window a number field shows: the one set, else the one the decoder used.
pub fn window_in_effect(levels: &Levels, window: Option<Window>) -> Option<Window> {
    window.or_else(|| levels.preview.decoded_window())
}

/// The window a change starts from: the one in effect, else (a VOI LUT,
/// which no window gives) the first preset.
pub fn starting_window(levels: &Levels, window: Option<Window>) -> Window {
    window_in_effect(levels, window).unwrap_or(levels.preview.presets[0].window)
}

/// A value as the fields show it: whole numbers where the data has them.
fn shown(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value}")
    } else {
        format!("{value:.1}")
    }
}

/// The presets, chosen from the viewer's toolbar.
#[component]
pub fn WindowPreset(#[prop(into)] levels: Signal<Option<Levels>>, window: RwSignal<Option<Window>>) -> impl IntoView {
    let presets = move || {
        levels.with(|l| {
            l.as_ref()
                .map(|l| {
                    l.preview
                        .presets
                        .iter()
                        .map(|p| p.name.clone())
                        .enumerate()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let chosen = move |value: String| {
        let preset = value.parse::<usize>().ok();
        window.set(preset.and_then(|i| levels.with(|l| l.as_ref()?.preview.presets.get(i).map(|p| p.window))));
    };
    let selected = move |i: usize| {
        window.get().is_some()
            && levels.with(|l| l.as_ref().and_then(|l| l.preview.presets.get(i)).map(|p| p.window)) == window.get()
    };
    view! {
        <Show when=move || levels.with(Option::is_some)>
            <label>
                "Window "
                <select data-testid="viewer-window-preset" on:change=move |ev| chosen(event_target_value(&ev))>
                    <option value="" selected=move || window.get().is_none()>"As analysed"</option>
                    <For each=presets key=|(i, name)| (*i, name.clone()) let:item>
                        <option value=item.0.to_string() selected=move || selected(item.0)>{item.1}</option>
                    </For>
                </select>
            </label>
        </Show>
    }
}

/// Level and width typed in, showing the window in effect.
#[component]
pub fn WindowLevel(#[prop(into)] levels: Signal<Option<Levels>>, window: RwSignal<Option<Window>>) -> impl IntoView {
    let current = move || levels.with(|l| l.as_ref().and_then(|l| window_in_effect(l, window.get())));
    // Typing a level or width keeps the other, as the window in effect has it.
    let typed = move |center: Option<f64>, width: Option<f64>| {
        let Some(now) = levels.with(|l| l.as_ref().map(|l| starting_window(l, window.get_untracked()))) else {
            return;
        };
        let (center, width) = (center.unwrap_or(now.center), width.unwrap_or(now.width));
        if center.is_finite() && width.is_finite() {
            window.set(Some(Window::linear(center, width)));
        }
    };
    let step = move || {
        levels.with(|l| {
            l.as_ref().map_or(1.0, |l| {
                // About 1/256 of the range, rounded to a power of ten.
                let range = (l.preview.high - l.preview.low).max(1.0) / 256.0;
                10f64.powf(range.log10().floor()).max(1.0)
            })
        })
    };
    let unit = move || {
        levels.with(|l| {
            l.as_ref()
                .and_then(|l| l.full.info.unit.clone())
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        })
    };
    view! {
        <Show when=move || levels.with(Option::is_some)>
            <div class="window-level row" role="group" aria-label="Window and level">
                <label>
                    {move || format!("Level{} ", unit())}
                    <input type="number" class="number" data-testid="viewer-level" step=step
                        prop:value=move || current().map(|w| shown(w.center)).unwrap_or_default()
                        on:change=move |ev| typed(event_target_value(&ev).trim().parse().ok(), None)/>
                </label>
                <label>
                    "Width "
                    <input type="number" class="number" data-testid="viewer-width" step=step min="1"
                        prop:value=move || current().map(|w| shown(w.width)).unwrap_or_default()
                        on:change=move |ev| typed(None, event_target_value(&ev).trim().parse().ok())/>
                </label>
            </div>
        </Show>
    }
}
