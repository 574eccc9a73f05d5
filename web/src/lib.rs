//! The page: a Leptos app that scores domains in the visitor's browser. Nothing typed or pasted
//! leaves the browser; the model runs on the CPU in wasm, or on WebGPU through `web-gpu`.
#![cfg(target_arch = "wasm32")]

mod app;
mod assets;
mod batch;
mod card;
mod engine;
mod single;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
