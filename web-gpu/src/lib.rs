//! The page's WebGPU engine: a separate wasm module the page imports only when the visitor's
//! browser has a WebGPU adapter and a batch is worth it, so the first verdict never waits for
//! burn-wgpu's download. It scores token sequences the page has already made with model-core;
//! normalisation, verdicts and everything the visitor sees stay in the page.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;

use burn::backend::wgpu::graphics::WebGpu;
use burn::backend::wgpu::{RuntimeOptions, Wgpu, WgpuDevice, init_setup_async};
use js_sys::{Float32Array, Promise};
use model_core::Detector;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The shipped model on the browser's GPU.
#[wasm_bindgen]
pub struct GpuScorer {
    // Shared with the futures of pending batches, which outlive a `&self` borrow.
    detector: Rc<Detector<Wgpu>>,
    adapter: String,
}

#[wasm_bindgen]
impl GpuScorer {
    /// Sets up WebGPU and loads a weights blob (`model/dga.dgaw`).
    pub async fn create(weights: Vec<u8>) -> Result<GpuScorer, JsError> {
        let device = WgpuDevice::default();
        let setup = init_setup_async::<WebGpu>(&device, RuntimeOptions::default()).await;
        let info = setup.adapter.get_info();
        let adapter = format!("{} ({:?})", info.name, info.device_type);
        let detector = Detector::<Wgpu>::from_weights(&weights, device)?;
        Ok(GpuScorer {
            detector: Rc::new(detector),
            adapter,
        })
    }

    /// The adapter WebGPU gave, for the page to show.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// Scores of token sequences given back to back in `tokens`, each `lengths[i]` long;
    /// resolves to a `Float32Array` of `Detector::score_width` values per sequence (DGA
    /// log-odds, then the family head's top guesses), in the same order.
    pub fn scores(&self, tokens: Vec<u32>, lengths: Vec<u32>) -> Promise {
        let detector = Rc::clone(&self.detector);
        future_to_promise(async move {
            let mut sequences = Vec::with_capacity(lengths.len());
            let mut start = 0usize;
            for &len in &lengths {
                let end = start + len as usize;
                let Some(sequence) = tokens.get(start..end) else {
                    return Err(JsError::new("token lengths run past the tokens").into());
                };
                sequences.push(sequence);
                start = end;
            }
            let scores = detector.scores_of_sequences_flat(&sequences).await;
            Ok(Float32Array::from(scores.as_slice()).into())
        })
    }
}
