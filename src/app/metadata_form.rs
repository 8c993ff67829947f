//! The patient metadata the model takes beside the image.

use super::folding_panel::FoldingPanel;
use super::{AppState, FromFile};
use chexlens_chexpert::metadata::Metadata;
use chexlens_chexpert::metadata::{Choice, parse_age};
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

/// One metadata field with named choices: a labelled select whose options
/// are the model crate's names, marked "from file" while it holds a DICOM's
/// value.
#[component]
fn ChoiceField<T: Choice + Send + Sync>(
    /// The field's label and test id.
    field: &'static str,
    get: fn(&Metadata) -> T,
    set: fn(&mut Metadata, T),
    /// Whether the DICOM gave the value, and how to clear that mark.
    from_file: fn(&FromFile) -> bool,
    clear_from_file: fn(&mut FromFile),
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (m, from) = (state.metadata, state.from_file);
    let shown = Signal::derive(move || from_file(&from.get()));
    let label = format!("{}{} ", field[..1].to_uppercase(), &field[1..]);
    view! {
        <label>
            {label}
            <select
                data-testid=field
                on:change=move |ev| {
                    if let Ok(value) = T::parse_choice(&event_target_value(&ev)) {
                        from.update(clear_from_file);
                        m.update(|m| set(m, value));
                    }
                }
                prop:value=move || get(&m.get()).name()
            >
                {T::CHOICES.iter().map(|&(_, name, label)| view! { <option value=name>{label}</option> }).collect_view()}
            </select>
            <FromFileBadge field=field shown=shown/>
        </label>
    }
}

#[component]
pub fn MetadataForm() -> impl IntoView {
    let state = expect_context::<AppState>();
    let m = state.metadata;
    let from = state.from_file;
    let age_from = Signal::derive(move || from.get().age);
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
        <FoldingPanel title="Patient" testid="patient-panel">
        <form class="metadata" on:submit=|ev| ev.prevent_default()>
            <ChoiceField
                field="sex" get=|m| m.sex set=|m, v| m.sex = v
                from_file=|f| f.sex clear_from_file=|f| f.sex = false
            />
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
            <ChoiceField
                field="view" get=|m| m.view set=|m, v| m.view = v
                from_file=|f| f.view clear_from_file=|f| f.view = false
            />
            <ChoiceField
                field="projection" get=|m| m.projection set=|m, v| m.projection = v
                from_file=|f| f.projection clear_from_file=|f| f.projection = false
            />
        </form>
        </FoldingPanel>
    }
}
