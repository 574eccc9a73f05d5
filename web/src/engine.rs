//! The one place the page touches the model: the CPU detector (Burn's Flex backend in wasm),
//! the optional WebGPU engine, and which of them scores what. Loaded once, kept out of Leptos
//! signals (Burn modules are not `Send`) in a thread-local.

use std::cell::RefCell;
use std::rc::Rc;

use burn::backend::Flex;
use model_core::explain::{self, BenignTrigrams, NameFeatures};
use model_core::{Detector, Domain, SequenceScore, Verdict};
use wasm_bindgen::prelude::*;

use crate::assets::{describe, yield_to_browser};

#[wasm_bindgen(module = "/js/gpu.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = gpuAdapter)]
    async fn gpu_adapter() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = gpuLoad)]
    async fn gpu_load(weights: &[u8]) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = gpuScores)]
    async fn gpu_scores(
        scorer: &JsValue,
        tokens: &[u32],
        lengths: &[u32],
    ) -> Result<JsValue, JsValue>;
}

/// Names scored per step on the CPU before the page yields to the browser: one batch, about
/// 60 ms here, so typing and scrolling stay responsive during a long batch.
const CPU_STEP: usize = 128;
/// Names per call into the WebGPU engine: one call is a few large batches.
const GPU_STEP: usize = 4096;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    WebGpu,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Cpu => "CPU (wasm)",
            Backend::WebGpu => "WebGPU",
        }
    }
}

/// What the visitor asked for (also `?backend=auto|cpu|webgpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Single names on the CPU (lowest latency); batches on WebGPU when a hardware adapter is
    /// loaded, since a batch is where a GPU pays for its download and start-up.
    Auto,
    Cpu,
    WebGpu,
}

impl Choice {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Choice::Auto),
            "cpu" => Some(Choice::Cpu),
            "webgpu" | "gpu" => Some(Choice::WebGpu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::Cpu => "cpu",
            Choice::WebGpu => "webgpu",
        }
    }
}

/// The WebGPU engine's state, shown to the visitor.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuStatus {
    Probing,
    Missing(String),
    Available { adapter: String, software: bool },
    Loading,
    Ready { adapter: String, software: bool },
    Failed(String),
}

impl GpuStatus {
    pub fn describe(&self) -> String {
        match self {
            GpuStatus::Probing => "WebGPU: checking…".into(),
            GpuStatus::Missing(why) => format!("WebGPU: not available ({why})"),
            GpuStatus::Available { adapter, software } => {
                format!(
                    "WebGPU: available, not loaded ({adapter}{})",
                    if *software { ", software" } else { "" }
                )
            }
            GpuStatus::Loading => "WebGPU: loading the engine…".into(),
            GpuStatus::Ready { adapter, software } => {
                format!(
                    "WebGPU: ready ({adapter}{})",
                    if *software { ", software" } else { "" }
                )
            }
            GpuStatus::Failed(why) => format!("WebGPU: failed, using the CPU ({why})"),
        }
    }
}

/// The loaded model and what came with it.
pub struct Engine {
    cpu: Detector<Flex>,
    weights: Vec<u8>,
    gpu: RefCell<Option<JsValue>>,
}

impl Engine {
    /// The word lexicon the weights carry, for the host rule's word graph.
    pub fn lexicon(&self) -> Option<&model_core::words::Lexicon> {
        self.cpu.config().words.as_ref().map(|part| &part.lexicon)
    }

    /// The family head's classes and group rule, for naming an alerted host's family.
    pub fn families(&self) -> Option<&model_core::FamilyConfig> {
        self.cpu.config().family.as_ref()
    }
}

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
}

/// The loaded engine, once [`install`] has run.
pub fn engine() -> Option<Rc<Engine>> {
    ENGINE.with(|e| e.borrow().clone())
}

/// Decodes the weights on the CPU and makes them the page's engine.
pub fn install(weights: Vec<u8>, url: &str) -> Result<(), String> {
    let cpu = Detector::<Flex>::from_weights(&weights, Default::default())
        .map_err(|e| format!("the model file {url} cannot be used: {e}"))?;
    let engine = Engine {
        cpu,
        weights,
        gpu: RefCell::new(None),
    };
    ENGINE.with(|e| *e.borrow_mut() = Some(Rc::new(engine)));
    Ok(())
}

/// Asks the browser for a WebGPU adapter without loading anything.
pub async fn probe_gpu() -> GpuStatus {
    match gpu_adapter().await {
        Ok(info) if info.is_null() || info.is_undefined() => {
            GpuStatus::Missing("this browser offers no WebGPU adapter".into())
        }
        Ok(info) => {
            let field = |k: &str| js_sys::Reflect::get(&info, &k.into()).ok();
            GpuStatus::Available {
                adapter: field("name")
                    .and_then(|v| v.as_string())
                    .unwrap_or_default(),
                software: field("fallback").and_then(|v| v.as_bool()).unwrap_or(false),
            }
        }
        Err(e) => GpuStatus::Missing(describe(&e)),
    }
}

impl Engine {
    /// Loads the WebGPU engine with the same weights; returns the adapter's name.
    pub async fn load_gpu(&self) -> Result<String, String> {
        let scorer = gpu_load(&self.weights).await.map_err(|e| describe(&e))?;
        let adapter = js_sys::Reflect::get(&scorer, &"adapter".into())
            .ok()
            .and_then(|a| a.as_string());
        *self.gpu.borrow_mut() = Some(scorer);
        Ok(adapter.unwrap_or_default())
    }

    /// Log-odds and family guesses of token sequences on `backend`, yielding to the browser
    /// between steps and reporting the fraction done.
    pub async fn scores(
        &self,
        sequences: &[Vec<u32>],
        backend: Backend,
        progress: &dyn Fn(f64),
    ) -> Result<Vec<SequenceScore>, String> {
        let scorer = self.gpu.borrow().clone();
        let mut scores = Vec::with_capacity(sequences.len());
        match (backend, scorer) {
            (Backend::WebGpu, Some(scorer)) => {
                let width = self.cpu.score_width();
                for step in sequences.chunks(GPU_STEP) {
                    let lengths: Vec<u32> = step.iter().map(|s| s.len() as u32).collect();
                    let tokens: Vec<u32> = step.concat();
                    let values = gpu_scores(&scorer, &tokens, &lengths)
                        .await
                        .map_err(|e| describe(&e))?;
                    let values = js_sys::Float32Array::from(values).to_vec();
                    if values.len() != step.len() * width {
                        return Err("the WebGPU engine gave back scores of another shape".into());
                    }
                    scores.extend(values.chunks(width).map(SequenceScore::from_row));
                    progress(scores.len() as f64 / sequences.len() as f64);
                }
            }
            (Backend::WebGpu, None) => return Err("the WebGPU engine is not loaded".into()),
            (Backend::Cpu, _) => {
                // Steps taken in length order waste no padding; results go back in input order.
                let mut order: Vec<usize> = (0..sequences.len()).collect();
                order.sort_by_key(|&i| sequences[i].len());
                scores.resize(sequences.len(), SequenceScore::from_row(&[f32::NAN]));
                for (done, step) in order.chunks(CPU_STEP).enumerate() {
                    let rows: Vec<&[u32]> = step.iter().map(|&i| sequences[i].as_slice()).collect();
                    for (&i, score) in step
                        .iter()
                        .zip(self.cpu.scores_of_sequences_async(&rows).await)
                    {
                        scores[i] = score;
                    }
                    progress(
                        ((done + 1) * CPU_STEP).min(sequences.len()) as f64
                            / sequences.len() as f64,
                    );
                    if sequences.len() > CPU_STEP {
                        yield_to_browser().await;
                    }
                }
            }
        }
        Ok(scores)
    }

    /// Verdicts for `inputs` in order, normalising here and scoring on `backend`.
    pub async fn score(
        &self,
        inputs: &[&str],
        backend: Backend,
        progress: &dyn Fn(f64),
    ) -> Result<Vec<Verdict>, String> {
        let prepared = self.cpu.prepare(inputs);
        let scores = self.scores(&prepared.sequences, backend, progress).await?;
        Ok(self.cpu.assemble(inputs, prepared, scores))
    }

    /// Why a name scored as it did: its features and each character's pull on `p_dga`.
    pub async fn explain(
        &self,
        domain: &Domain,
        benign: Option<&BenignTrigrams>,
        backend: Backend,
    ) -> Result<Explanation, String> {
        let tokeniser = self.cpu.tokeniser();
        let features = explain::features(domain.registrable_label(), tokeniser, benign);
        let view = tokeniser.view(domain).to_owned();
        let variants = explain::deletion_variants(&tokeniser.encode(domain));
        let scores = self.scores(&variants, backend, &|_| {}).await?;
        let logits: Vec<f32> = scores.iter().map(|s| s.logit).collect();
        let influence = explain::influence(&logits);
        // The model reads at most max_len - 1 characters; the rest has no influence to show.
        let characters = view
            .chars()
            .zip(influence.into_iter().chain(std::iter::repeat(0.0)))
            .collect();
        let label = domain.registrable_label();
        let words = self.cpu.config().words.as_ref().map(|part| WordsSeen {
            split: part.lexicon.split(label),
            label: label.to_owned(),
            log_odds: part.log_odds(label),
        });
        Ok(Explanation {
            features,
            characters,
            words,
        })
    }
}

/// The words the word part found in a registrable label, and what they added to its log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct WordsSeen {
    pub label: String,
    pub split: model_core::words::Split,
    pub log_odds: f32,
}

impl WordsSeen {
    /// `weather · repeat: 13 of 13 characters in words; 0 of 1 neighbouring pairs seen
    /// together in English; +2.25 log-odds`.
    pub fn describe(&self) -> String {
        let s = &self.split;
        if s.words.is_empty() {
            return format!(
                "no word of three letters or more; {:+.2} log-odds",
                self.log_odds
            );
        }
        let words: Vec<&str> = s
            .words
            .iter()
            .filter_map(|w| self.label.get(w.start..w.end))
            .collect();
        format!(
            "{}: {} of {} characters in words; {} of {} neighbouring pairs seen together in English; {:+.2} log-odds",
            words.join(" · "),
            s.covered,
            s.label_len,
            s.known_pairs,
            s.adjacent,
            self.log_odds
        )
    }
}

/// A name's features and per-character influence on `p_dga` (see [`explain::influence`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub features: NameFeatures,
    pub characters: Vec<(char, f32)>,
    /// `None` for weights without a word part.
    pub words: Option<WordsSeen>,
}
