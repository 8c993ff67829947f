//! The patient metadata the model takes beside the image.

use super::AppState;
use chexlens_model::metadata::parse_age;
use chexlens_model::{Projection, Sex, View};
use leptos::prelude::*;

/// "from file" beside a field that holds a DICOM's value.
#[component]
fn FromFileBadge(field: &'static str, shown: Signal<bool>) -> impl IntoView {
    view! {
        <Show when=move || shown.get()>
            <span class="from-file" data-testid=format!("{field}-from-file") title="Read from the DICOM file; change it if it is wrong">
                "from file"
            </span>
        </Show>
    }
}

#[component]
pub fn MetadataForm() -> impl IntoView {
    let state = expect_context::<AppState>();
    let m = state.metadata;
    let from = state.from_file;
    let sex_from = Signal::derive(move || from.get().sex);
    let age_from = Signal::derive(move || from.get().age);
    let view_from = Signal::derive(move || from.get().view);
    let projection_from = Signal::derive(move || from.get().projection);
    let age_text = RwSignal::new(String::from("50"));
    // Keep the text box in step when defaults arrive with a model.
    Effect::new(move |_| {
        if let Some(age) = m.get().age {
            let shown = age_text.get_untracked();
            if shown.trim().parse::<f32>().ok() != Some(age) {
                age_text.set(format!("{age}"));
            }
        }
    });
    let age_error = RwSignal::new(None::<String>);

    view! {
        <form class="panel metadata" on:submit=|ev| ev.prevent_default()>
            <h2>"Patient"</h2>
            <label>
                "Sex "
                <select
                    data-testid="sex"
                    on:change=move |ev| {
                        if let Ok(sex) = event_target_value(&ev).parse::<Sex>() {
                            from.update(|f| f.sex = false);
                            m.update(|m| m.sex = sex);
                        }
                    }
                    prop:value=move || if m.get().sex == Sex::Female { "female" } else { "male" }
                >
                    <option value="male">"male"</option>
                    <option value="female">"female"</option>
                </select>
                <FromFileBadge field="sex" shown=sex_from/>
            </label>
            <label>
                "Age "
                <input
                    type="number" min="0" max="130" step="1" data-testid="age"
                    prop:value=move || age_text.get()
                    prop:disabled=move || m.get().age.is_none()
                    on:change=move |ev| {
                        let text = event_target_value(&ev);
                        age_text.set(text.clone());
                        match parse_age(&text) {
                            Ok(Some(age)) => {
                                age_error.set(None);
                                from.update(|f| f.age = false);
                                m.update(|m| m.age = Some(age));
                            }
                            Ok(None) | Err(_) => age_error.set(Some("Age must be 0 to 130 years.".into())),
                        }
                    }
                />
                <FromFileBadge field="age" shown=age_from/>
            </label>
            <label>
                <input
                    type="checkbox" data-testid="age-unknown"
                    prop:checked=move || m.get().age.is_none()
                    on:change=move |ev| {
                        let unknown = event_target_checked(&ev);
                        let typed = age_text.get_untracked().trim().parse::<f32>().ok();
                        from.update(|f| f.age = false);
                        m.update(|m| m.age = if unknown { None } else { typed.or(Some(50.0)) });
                    }
                />
                " age unknown"
            </label>
            <Show when=move || age_error.get().is_some()>
                <p class="field-error" role="alert">{move || age_error.get().unwrap_or_default()}</p>
            </Show>
            <label>
                "View "
                <select
                    data-testid="view"
                    on:change=move |ev| {
                        if let Ok(view) = event_target_value(&ev).parse::<View>() {
                            from.update(|f| f.view = false);
                            m.update(|m| m.view = view);
                        }
                    }
                    prop:value=move || if m.get().view == View::Lateral { "lateral" } else { "frontal" }
                >
                    <option value="frontal">"frontal"</option>
                    <option value="lateral">"lateral"</option>
                </select>
                <FromFileBadge field="view" shown=view_from/>
            </label>
            <label>
                "Projection "
                <select
                    data-testid="projection"
                    on:change=move |ev| {
                        if let Ok(p) = event_target_value(&ev).parse::<Projection>() {
                            from.update(|f| f.projection = false);
                            m.update(|m| m.projection = p);
                        }
                    }
                    prop:value=move || match m.get().projection {
                        Projection::Ap => "ap",
                        Projection::Pa => "pa",
                        Projection::None => "none",
                        Projection::Unknown => "unknown",
                    }
                >
                    <option value="pa">"PA"</option>
                    <option value="ap">"AP"</option>
                    <option value="none">"none (no AP/PA label)"</option>
                    <option value="unknown">"unknown"</option>
                </select>
                <FromFileBadge field="projection" shown=projection_from/>
            </label>
        </form>
    }
}
