//! Heat maps over the X-ray: one canvas per label, with the method and
//! layer to explain by, opacity, a legend, a switch back to the plain
//! image, a PNG download, and each map's faithfulness on request.

use super::{AppState, FaithfulnessStatus, Preview};
use chexlens_images::cam::{CamLayer, CamMap, CamMethod, CamSettings, jet, overlay};
use chexlens_images::faithfulness::Faithfulness;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// The preview with `map` blended over it at `opacity` (pytorch-grad-cam's
/// rule, as the CLI's overlays), inverted first with `invert`; RGBA.
pub fn composite(preview: &Preview, map: Option<&CamMap>, opacity: f32, invert: bool) -> Vec<u8> {
    let rgb: Vec<u8> = preview
        .rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .map(|v| if invert { 255 - v } else { v })
        .collect();
    let shown = match map {
        Some(map) => overlay(&rgb, &map.upsampled(preview.width, preview.height), 1.0 - opacity),
        None => rgb,
    };
    shown.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

/// Puts RGBA pixels of `width` x `height` on a canvas of that size.
pub fn put_pixels(canvas: &HtmlCanvasElement, rgba: &[u8], width: usize, height: usize) {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let Ok(Some(ctx)) = canvas.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<CanvasRenderingContext2d>() else {
        return;
    };
    if let Ok(data) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width as u32, height as u32) {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

fn paint(canvas: &HtmlCanvasElement, preview: &Preview, map: Option<&CamMap>, opacity: f32) {
    let rgba = composite(preview, map, opacity, false);
    put_pixels(canvas, &rgba, preview.width, preview.height);
}

fn download(canvas: &HtmlCanvasElement, label: &str) {
    if let Ok(url) = canvas.to_data_url_with_type("image/png") {
        let name = format!("chexlens-{}.png", label.to_lowercase().replace(' ', "-"));
        super::download::offer(&url, &name);
    }
}

/// How strongly a heat map covers the image, 0 to 1.
#[component]
pub fn OpacitySlider(label: &'static str, testid: &'static str, opacity: RwSignal<f32>) -> impl IntoView {
    view! {
        <label>
            {label}
            <input type="range" min="0" max="1" step="0.05" data-testid=testid
                prop:value=move || opacity.get().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f32>() { opacity.set(v.clamp(0.0, 1.0)) }
                }
            />
        </label>
    }
}

/// A map painted over the preview, its values in `data-values` for checks.
#[component]
fn MapCanvas(
    map: CamMap,
    opacity: RwSignal<f32>,
    show: RwSignal<bool>,
    label: String,
    #[prop(into)] name: String,
    testid: &'static str,
    #[prop(optional)] canvas_ref: Option<NodeRef<Canvas>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas_ref = canvas_ref.unwrap_or_default();
    let values = map.values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    let shape = format!("{}x{}", map.width, map.height);
    Effect::new(move |_| {
        let (Some(canvas), Some(preview)) = (canvas_ref.get(), state.preview.get()) else {
            return;
        };
        let shown = show.get().then_some(&map);
        paint(&canvas, &preview, shown, opacity.get());
    });
    view! {
        <canvas node_ref=canvas_ref data-testid=testid data-label=label data-shape=shape data-values=values aria-label=name></canvas>
    }
}

#[component]
fn HeatMapFigure(
    index: usize,
    label: String,
    map: CamMap,
    opacity: RwSignal<f32>,
    show: RwSignal<bool>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let name = label.clone();
    let several = move || state.model_info().is_some_and(|i| i.members > 1);
    let members = move || {
        state
            .member_heatmaps
            .with(|m| m.iter().find(|(l, _)| *l == index).map(|(_, maps)| maps.clone()))
    };
    let member_label = label.clone();
    let members_button_label = format!("Each member's heat map for {label}");
    let selected = move || state.selected_label.get() == Some(index);
    // The map is the button that puts it on the image; its actions follow
    // in one row, the same for every map.
    view! {
        <figure class="heatmap" class:selected=selected data-testid="heatmap-figure" data-label=label.clone()>
            <button type="button" class="map-thumb" aria-pressed=move || selected().to_string()
                aria-label=format!("Show the heat map for {label} on the image")
                on:click=move |_| actions.select_label(index)>
                <MapCanvas map=map opacity=opacity show=show label=label.clone() name=format!("{} heat map for {label}", state.cam_settings.get_untracked().method.title())
                    testid="heatmap" canvas_ref=canvas_ref/>
            </button>
            <figcaption>
                <span class="map-label">{label.clone()}</span>
                <span class="map-actions">
                    <button class="small" aria-label=format!("Download the heat map for {label} as PNG") on:click=move |_| {
                        if let Some(c) = canvas_ref.get() { download(&c, &name); }
                    }>"PNG"</button>
                    <Show when=move || several() && members().is_none()>
                        <button class="small" data-testid="member-maps-button"
                            aria-label=members_button_label.clone()
                            on:click=move |_| actions.request_member_heatmaps(index)>"Each member"</button>
                    </Show>
                </span>
            </figcaption>
            <FaithfulnessFigures index=index/>
            {move || members().map(|maps| {
                let label = member_label.clone();
                view! {
                    <div class="member-maps">
                        {maps.into_iter().enumerate().map(|(k, map)| view! {
                            <figure>
                                <MapCanvas map=map opacity=opacity show=show label=label.clone()
                                    name=format!("Member {} heat map for {label}", k + 1) testid="member-heatmap"/>
                                <figcaption>{format!("member {}", k + 1)}</figcaption>
                            </figure>
                        }).collect_view()}
                    </div>
                }
            })}
        </figure>
    }
}

#[component]
pub fn HeatMaps() -> impl IntoView {
    let state = expect_context::<AppState>();
    let opacity = RwSignal::new(0.5f32);
    let show = RwSignal::new(true);
    let legend: String = (0..=10)
        .map(|i| {
            let [r, g, b] = jet(i as f32 / 10.0);
            format!("rgb({r},{g},{b}) {}%", i * 10)
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Most probable first, as the findings list.
    let maps = move || {
        let labels = state.model_info().map(|i| i.labels).unwrap_or_default();
        let probabilities = match state.analysis.get() {
            super::AnalysisStatus::Done { probabilities, .. } => probabilities,
            _ => Vec::new(),
        };
        let mut maps = state.heatmaps.get();
        maps.sort_by(|a, b| {
            let p = |i: usize| probabilities.get(i).copied().unwrap_or(0.0);
            p(b.0).total_cmp(&p(a.0))
        });
        maps.into_iter()
            .filter_map(|(i, map)| labels.get(i).map(|l| (i, l.clone(), map)))
            .collect::<Vec<_>>()
    };
    let hint = move || {
        let settings = state.cam_settings.get();
        format!(
            "{} on {}; the ensemble's map is the mean of the members' maps, rescaled (the same rule for every method).",
            settings.method.title(),
            layer_description(settings.layer)
        )
    };
    view! {
        <Show when=move || !state.heatmaps_requested.with(Vec::is_empty)>
            <div class="panel">
                <h2>"Where the model looked"</h2>
                <div class="row">
                    <OpacitySlider label="Heat map opacity " testid="heatmap-opacity" opacity=opacity/>
                    <label>
                        <input type="checkbox" data-testid="heatmap-toggle" prop:checked=move || show.get()
                            on:change=move |ev| show.set(event_target_checked(&ev))/>
                        " show heat maps"
                    </label>
                </div>
                // Numbers as well as colours: each map is scaled to 0..1.
                <div class="legend" role="img" aria-label="Colour scale of the maps: blue 0 (least weight), green 0.5, red 1 (most weight)">
                    <span>"low"</span>
                    <div class="legend-scale">
                        <div class="legend-bar" style:background=format!("linear-gradient(to right, {legend})")></div>
                        <div class="legend-ticks" aria-hidden="true">
                            <span>"0"</span><span>"0.25"</span><span>"0.5"</span><span>"0.75"</span><span>"1"</span>
                        </div>
                    </div>
                    <span>"high"</span>
                </div>
                <CamControls/>
                <p class="hint" data-testid="cam-hint">{hint}</p>
                <MapProgress/>
                <div class="heatmaps">
                    <For each=maps key=|(i, _, _)| *i let:item>
                        <HeatMapFigure index=item.0 label=item.1 map=item.2 opacity=opacity show=show/>
                    </For>
                </div>
            </div>
        </Show>
    }
}

/// The layer as readers see it.
fn layer_description(layer: CamLayer) -> &'static str {
    match layer {
        CamLayer::Last => "the last block's depthwise convolution (12x12 at 384 px, the reference's)",
        CamLayer::Stages2 => "the previous stage's last depthwise convolution (24x24 at 384 px, finer)",
    }
}

/// The method and the layer the maps are made by; changing either asks
/// for the maps again from the kept pass.
#[component]
fn CamControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    let settings = move || state.cam_settings.get();
    let choose_method = move |ev| {
        if let Some(method) = CamMethod::from_name(&event_target_value(&ev)) {
            actions.set_cam_settings(CamSettings {
                method,
                ..state.cam_settings.get_untracked()
            });
        }
    };
    let choose_layer = move |ev| {
        if let Some(layer) = CamLayer::from_name(&event_target_value(&ev)) {
            actions.set_cam_settings(CamSettings {
                layer,
                ..state.cam_settings.get_untracked()
            });
        }
    };
    let caveat = move || settings().method.caveat();
    view! {
        <div class="row cam-controls">
            // Labels beside, not around, the selects: a wrapping label's
            // text would take in every option's.
            <span class="control">
                <label for="cam-method">"Method"</label>
                <select id="cam-method" data-testid="cam-method" on:change=choose_method prop:value=move || settings().method.name()>
                    {CamMethod::ALL.map(|m| view! { <option value=m.name()>{m.title()}</option> }).collect_view()}
                </select>
            </span>
            <span class="control">
                <label for="cam-layer">"Layer"</label>
                <select id="cam-layer" data-testid="cam-layer" on:change=choose_layer prop:value=move || settings().layer.name()>
                    <option value="last">"last block (12x12)"</option>
                    <option value="stages_2">"stages_2 (24x24, slower)"</option>
                </select>
            </span>
        </div>
        {move || caveat().map(|text| view! { <p class="notice" role="note" data-testid="cam-caveat">{text}</p> })}
    }
}

/// How many of the maps asked for have come, while some are under way.
#[component]
fn MapProgress() -> impl IntoView {
    let state = expect_context::<AppState>();
    let asked = move || state.heatmaps_requested.with(Vec::len);
    let done = move || state.heatmaps.with(Vec::len);
    view! {
        <Show when=move || { done() < asked() }>
            <p class="progress-line" role="status" data-testid="cam-progress">
                <progress max=move || asked().to_string() value=move || done().to_string()></progress>
                {move || format!(" Computing heat maps: {} of {}", done(), asked())}
            </p>
        </Show>
    }
}

/// The ensemble map's faithfulness for label `index`: a button, then the
/// passes' progress, then the figures and how to read them.
#[component]
fn FaithfulnessFigures(index: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let actions = expect_context::<super::Actions>();
    let status = move || {
        state
            .faithfulness
            .with(|f| f.iter().find(|(l, _)| *l == index).map(|(_, s)| s.clone()))
    };
    move || {
        match status() {
        None => view! {
            <button class="small" data-testid="faithfulness-button" on:click=move |_| actions.request_faithfulness(index)>
                "Faithfulness"
            </button>
        }
        .into_any(),
        Some(FaithfulnessStatus::Running { done, total }) => view! {
            <p class="progress-line" role="status" data-testid="faithfulness-progress">
                <progress max=total.to_string() value=done.to_string()></progress>
                {format!(" Measuring: {done} of {total} passes")}
            </p>
        }
        .into_any(),
        Some(FaithfulnessStatus::Failed(message)) => view! {
            <p class="error" role="alert">{format!("Faithfulness could not be measured: {message}")}</p>
            <button class="small" data-testid="faithfulness-button" on:click=move |_| actions.request_faithfulness(index)>
                "Try again"
            </button>
        }
        .into_any(),
        Some(FaithfulnessStatus::Done(figures)) => view! { <FaithfulnessTable figures=figures/> }.into_any(),
    }
    }
}

#[component]
fn FaithfulnessTable(figures: Faithfulness) -> impl IntoView {
    let values = serde_json::to_string(&figures).unwrap_or_default();
    let cells = |most: bool| {
        figures
            .deletion
            .iter()
            .map(|d| {
                let p = if most {
                    d.most_relevant_removed
                } else {
                    d.least_relevant_removed
                };
                view! { <td>{format!("{p:.3}")}</td> }
            })
            .collect_view()
    };
    let headers = figures
        .deletion
        .iter()
        .map(|d| view! { <th scope="col">{format!("{}%", d.percent)}</th> })
        .collect_view();
    let change = format!(
        "Image multiplied by the map: confidence change {:+.3} (logit), probability {:.3} \u{2192} {:.3}.",
        figures.confidence_change, figures.probability, figures.multiplied_probability
    );
    view! {
        <div class="faithfulness" data-testid="faithfulness" data-values=values>
            <p>{change}</p>
            <table>
                <caption>"Probability with this share of the pixels replaced by the image's mean"</caption>
                <thead><tr><th scope="col">"Pixels"</th>{headers}</tr></thead>
                <tbody>
                    <tr><th scope="row">"most relevant"</th>{cells(true)}</tr>
                    <tr><th scope="row">"least relevant"</th>{cells(false)}</tr>
                </tbody>
            </table>
            <p class="hint">
                "A faithful map keeps the score when the image is multiplied by it, and its most-relevant row falls faster than its least-relevant one."
            </p>
        </div>
    }
}
