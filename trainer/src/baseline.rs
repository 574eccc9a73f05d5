//! `trainer baseline`: a character n-gram logistic regression, trained on the same split and
//! measured by the same metrics as the transformer, so the two compare side by side.
//!
//! Written by hand: the Rust linear-model crates take dense feature matrices, and a million
//! names over a million hashed n-grams only fits as sparse, hashed SGD.

use std::hash::{Hash, Hasher};

use anyhow::Result;
use clap::Args;
use model_core::{Tokeniser, TokeniserConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::metrics;
use crate::split::Example;

#[derive(Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// Passes over the (family-capped) training split.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Most names any one DGA family contributes to an epoch, as in training.
    #[arg(long, default_value_t = 15_000)]
    family_cap: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Hashed feature space: large enough that collisions between common n-grams are rare.
const FEATURES: usize = 1 << 20;
const MAX_N: usize = 4;

/// Logistic regression over hashed 1- to 4-grams of `^name$`, trained with AdaGrad.
struct NgramModel {
    weights: Vec<f32>,
    squared: Vec<f32>,
    bias: f32,
}

impl NgramModel {
    fn new() -> Self {
        Self {
            weights: vec![0.0; FEATURES],
            squared: vec![1e-6; FEATURES],
            bias: 0.0,
        }
    }

    fn features(text: &str, out: &mut Vec<usize>) {
        out.clear();
        let bytes: Vec<u8> = std::iter::once(b'^')
            .chain(text.bytes())
            .chain(std::iter::once(b'$'))
            .collect();
        for n in 1..=MAX_N {
            for gram in bytes.windows(n) {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                gram.hash(&mut h);
                out.push(h.finish() as usize % FEATURES);
            }
        }
    }

    /// Log-odds that the name is a DGA's.
    fn logit(&self, features: &[usize]) -> f32 {
        self.bias + features.iter().map(|&f| self.weights[f]).sum::<f32>()
    }

    fn learn(&mut self, features: &[usize], is_dga: bool, lr: f32) {
        let g = model_core::detector::sigmoid(self.logit(features)) - is_dga as i32 as f32;
        self.bias -= lr * 0.1 * g;
        for &f in features {
            self.squared[f] += g * g;
            self.weights[f] -= lr * g / self.squared[f].sqrt();
        }
    }
}

pub fn run(args: BaselineArgs) -> Result<()> {
    let tokeniser = Tokeniser::new(TokeniserConfig::new());
    let splits = crate::load_splits(&args.data, &tokeniser)?;
    let mut model = NgramModel::new();
    let mut rng = StdRng::seed_from_u64(args.data.split_seed);
    let mut features = Vec::new();
    let started = std::time::Instant::now();
    for epoch in 0..args.epochs {
        let mut order = capped(&splits.train, args.family_cap, &mut rng);
        order.shuffle(&mut rng);
        for &i in &order {
            let e = &splits.train[i];
            NgramModel::features(&e.text, &mut features);
            model.learn(&features, e.is_dga, 0.5);
        }
        eprintln!(
            "epoch {} of {}: {} names",
            epoch + 1,
            args.epochs,
            order.len()
        );
    }
    let trained = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let logits: Vec<f32> = splits
        .test
        .iter()
        .map(|e| {
            NgramModel::features(&e.text, &mut features);
            model.logit(&features)
        })
        .collect();
    let scoring = splits.test.len() as f64 / started.elapsed().as_secs_f64();
    let report = metrics::evaluate_examples(&splits.test, &logits);
    println!(
        "n-gram logistic regression, test split (trained in {trained:.0} s, scores {scoring:.0} names/s):"
    );
    println!("{}", metrics::render(&report));
    if let Some(path) = args.json {
        crate::train::write_atomic(&path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// Indices of every benign name and at most `cap` names per DGA family.
fn capped(train: &[Example], cap: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut by_family: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, e) in train.iter().enumerate() {
        by_family.entry(&e.family).or_default().push(i);
    }
    by_family
        .into_iter()
        .flat_map(|(family, mut members)| {
            if family != "legit" {
                members.shuffle(rng);
                members.truncate(cap);
            }
            members
        })
        .collect()
}
