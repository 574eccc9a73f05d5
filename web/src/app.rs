//! The page's shell: loads the model once, holds what every tab shares (engine choice, risk
//! thresholds, status), and switches between the single-name, batch and model-card tabs.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use model_core::{AllowList, ModelCard, RiskThresholds};

use crate::assets::{self, ALLOW_URL, CARD_URL, WEIGHTS_URL};
use crate::engine::{self, Backend, Choice, GpuStatus};

/// Whether the model can score yet.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// Fraction of the weights downloaded.
    Loading(f64),
    Ready,
    Failed(String),
}

/// State every tab reads; plain data only (the model itself lives in [`engine`]).
#[derive(Clone, Copy)]
pub struct Shared {
    pub model: RwSignal<ModelState>,
    pub gpu: RwSignal<GpuStatus>,
    pub choice: RwSignal<Choice>,
    pub thresholds: RwSignal<RiskThresholds>,
    /// Names the visitor treats as benign: the shipped list until edited.
    pub allow: RwSignal<Arc<AllowList>>,
    /// The allow-list as the visitor sees and edits it.
    pub allow_text: RwSignal<String>,
    /// `model/card.json`, fetched after the model so it never delays the first verdict; shared
    /// rather than copied, since it is read on every explanation.
    pub card: RwSignal<Option<Arc<ModelCard>>>,
}

impl Shared {
    /// Which backend scores a single name (`batch == false`) or a batch, given the choice and
    /// what is loaded; the CPU whenever the WebGPU engine is not ready.
    pub fn backend_for(&self, batch: bool) -> Backend {
        // `Ready` is set only once the engine has loaded.
        let GpuStatus::Ready { software, .. } = self.gpu.get_untracked() else {
            return Backend::Cpu;
        };
        match self.choice.get_untracked() {
            Choice::WebGpu => Backend::WebGpu,
            Choice::Auto if batch && !software => Backend::WebGpu,
            _ => Backend::Cpu,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Single,
    Batch,
    Card,
}

#[component]
pub fn App() -> impl IntoView {
    let choice = assets::url_flag("backend")
        .and_then(|b| Choice::parse(&b))
        .unwrap_or(Choice::Auto);
    let shared = Shared {
        model: RwSignal::new(ModelState::Loading(0.0)),
        gpu: RwSignal::new(GpuStatus::Probing),
        choice: RwSignal::new(choice),
        thresholds: RwSignal::new(RiskThresholds::default()),
        allow: RwSignal::new(Arc::default()),
        allow_text: RwSignal::new(String::new()),
        card: RwSignal::new(None),
    };
    provide_context(shared);
    spawn_local(load_model(shared));
    // Switching to WebGPU loads its engine if the browser has an adapter and it is not loaded.
    Effect::new(move |_| {
        let choice = shared.choice.get();
        if shared.model.get() == ModelState::Ready {
            spawn_local(maybe_load_gpu(shared, choice));
        }
    });
    let (tab, set_tab) = signal(Tab::Single);
    let tab_button = move |which: Tab, label: &'static str| {
        view! {
            <button
                role="tab"
                class:active=move || tab.get() == which
                aria-selected=move || (tab.get() == which).to_string()
                on:click=move |_| set_tab.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <header>
            <h1>"DGA domain detector"</h1>
            <p class="privacy">
                "Scores domain names for signs of a domain generation algorithm, in this browser: nothing you type or paste is sent anywhere."
            </p>
            <StatusBar/>
        </header>
        <nav role="tablist">
            {tab_button(Tab::Single, "Single domain")}
            {tab_button(Tab::Batch, "Batch")}
            {tab_button(Tab::Card, "Model card")}
        </nav>
        <main>
            // Tabs stay mounted so typed text and batch results survive switching.
            <section class:hidden=move || tab.get() != Tab::Single><crate::single::Single/></section>
            <section class:hidden=move || tab.get() != Tab::Batch><crate::batch::Batch/></section>
            <section class:hidden=move || tab.get() != Tab::Card><crate::card::Card/></section>
        </main>
    }
}

/// Downloads the weights and the model card, then installs the CPU engine.
async fn load_model(shared: Shared) {
    // `?weights=` loads another same-origin file (the browser tests use a corrupt one).
    let url = assets::url_flag("weights").unwrap_or_else(|| WEIGHTS_URL.to_owned());
    let weights = assets::fetch_bytes(&url, |p| shared.model.set(ModelState::Loading(p))).await;
    let weights = match weights {
        Ok(w) => w,
        Err(e) => return shared.model.set(ModelState::Failed(e)),
    };
    match engine::install(weights, &url) {
        Ok(()) => {
            assets::mark("dga-model-ready");
            shared.model.set(ModelState::Ready);
        }
        Err(e) => return shared.model.set(ModelState::Failed(e)),
    }
    // The allow-list is fetched rather than compiled in: it is not needed for the first
    // verdict, and the page's download stays under 2 MB. A page without it says so.
    match assets::fetch_text(ALLOW_URL).await {
        Ok(text) if shared.allow_text.get_untracked().is_empty() => {
            shared.allow.set(Arc::new(AllowList::parse(&text).0));
            shared.allow_text.set(text);
        }
        Ok(_) => {}
        Err(e) => shared.allow_text.set(format!(
            "# The shipped allow-list could not be loaded ({e}); entries typed here apply.\n"
        )),
    }
    // The card is optional: the page scores without it and says so on its tab.
    if let Ok(text) = assets::fetch_text(CARD_URL).await {
        shared
            .card
            .set(serde_json::from_str(&text).ok().map(Arc::new));
    }
}

/// Probes for WebGPU once, then loads its engine when the choice asks for it: always for
/// `webgpu`, for `auto` only on a hardware adapter (a software one is slower than the CPU path).
async fn maybe_load_gpu(shared: Shared, choice: Choice) {
    if shared.gpu.get_untracked() == GpuStatus::Probing {
        let status = engine::probe_gpu().await;
        shared.gpu.set(status);
    }
    let GpuStatus::Available { adapter, software } = shared.gpu.get_untracked() else {
        return;
    };
    let wanted = match choice {
        Choice::WebGpu => true,
        Choice::Auto => !software,
        Choice::Cpu => false,
    };
    let Some(engine) = engine::engine().filter(|_| wanted) else {
        return;
    };
    shared.gpu.set(GpuStatus::Loading);
    match engine.load_gpu().await {
        Ok(name) => {
            let adapter = if name.trim().is_empty() {
                adapter
            } else {
                name
            };
            shared.gpu.set(GpuStatus::Ready { adapter, software });
        }
        Err(e) => shared.gpu.set(GpuStatus::Failed(e)),
    }
}

/// Model loading state, engine choice, WebGPU state and risk thresholds.
#[component]
fn StatusBar() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let model_line = move || match shared.model.get() {
        ModelState::Loading(p) => view! {
            <span class="loading">"Loading the model… " <progress max="1" value=p></progress></span>
        }
        .into_any(),
        ModelState::Ready => {
            view! { <span class="ready" id="model-status">"Model ready"</span> }.into_any()
        }
        ModelState::Failed(e) => view! {
            <span class="error" id="model-status" role="alert">
                {format!("The model could not be loaded: {e}")}
            </span>
        }
        .into_any(),
    };
    view! {
        <div class="status">
            {model_line}
            <label>
                "Engine "
                <select
                    id="engine"
                    prop:value=move || shared.choice.get().as_str()
                    on:change=move |ev| {
                        if let Some(c) = Choice::parse(&event_target_value(&ev)) {
                            shared.choice.set(c)
                        }
                    }
                >
                    <option value="auto">"Auto: CPU for single names, WebGPU for batches"</option>
                    <option value="cpu">"CPU (wasm)"</option>
                    <option value="webgpu">"WebGPU"</option>
                </select>
            </label>
            <span id="gpu-status">{move || shared.gpu.get().describe()}</span>
            <ThresholdInput id="threshold-high" label="High risk ≥ " high=true/>
            <ThresholdInput id="threshold-medium" label="Medium ≥ " high=false/>
            <AllowListEditor/>
        </div>
    }
}

/// The allow-list, editable: lines that are not names are listed and left out, the rest apply
/// at once to every verdict on the page (they stay in this browser like everything else).
#[component]
fn AllowListEditor() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let (problems, set_problems) = signal(Vec::<String>::new());
    let apply = move |text: String| {
        let (list, bad) = AllowList::parse(&text);
        shared.allow_text.set(text);
        set_problems.set(
            bad.into_iter()
                .map(|b| format!("line {}: `{}` is left out ({})", b.line, b.text, b.reason))
                .collect(),
        );
        shared.allow.set(Arc::new(list));
    };
    view! {
        <details id="allow">
            <summary id="allow-summary">{move || format!("Allow-list: {} entries", shared.allow.get().len())}</summary>
            <p class="muted">
                "One domain or suffix per line (" <code>"#"</code> " starts a comment). Names under an entry are reported as "
                <em>"allowed"</em> ", never as a risk. The shipped list holds hosting and cloud platforms whose customer names look random."
            </p>
            <textarea id="allow-list" rows="6" spellcheck="false"
                prop:value=move || shared.allow_text.get()
                on:input=move |ev| apply(event_target_value(&ev))></textarea>
            <ul class="error" id="allow-errors">
                {move || problems.get().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
        </details>
    }
}

/// One of the two risk thresholds, shared by every tab.
#[component]
fn ThresholdInput(
    /// Element id (the browser tests use it).
    id: &'static str,
    label: &'static str,
    /// Whether this sets the high threshold (else the medium one).
    high: bool,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let value = move || {
        let t = shared.thresholds.get();
        if high { t.high } else { t.medium }
    };
    let set = move |text: String| {
        if let Ok(value) = text.parse::<f32>() {
            let value = value.clamp(0.0, 1.0);
            shared
                .thresholds
                .update(|t| *(if high { &mut t.high } else { &mut t.medium }) = value);
        }
    };
    view! {
        <label>
            {label}
            <input type="number" min="0" max="1" step="0.05" id=id
                prop:value=move || value().to_string()
                on:change=move |ev| set(event_target_value(&ev))/>
        </label>
    }
}
