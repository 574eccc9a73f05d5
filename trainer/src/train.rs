//! The training loop: balanced epochs, AdamW with warm-up and cosine decay, gradient clipping,
//! step-based validation, best-checkpoint keeping, early stopping and crash-safe resumption.
//!
//! burn-train's `Learner` validates and checkpoints once per epoch and resumes only at epoch
//! boundaries; we validate every N steps and must survive `kill -9` mid-epoch, so the loop is
//! ours while the optimiser, scheduler, loss and records are Burn's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{AutodiffModule, Module};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::lr_scheduler::LrScheduler;
use burn::optim::lr_scheduler::composed::ComposedLrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use labelled::files::write_atomic;
use model_core::{Detector, DgaModel, ModelConfig, Shapes, encode_weights};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::backend::Job;
use crate::metrics;
use crate::split::Example;

/// Hyper-parameters; saved in the run folder so a resumed run cannot silently change them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub model: ModelConfig,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub warmup_steps: usize,
    pub max_steps: usize,
    pub val_every: usize,
    pub val_samples: usize,
    pub patience: usize,
    /// Most training rows any one DGA family contributes to an epoch.
    pub family_cap: usize,
    pub seed: u64,
    /// What picks the best checkpoint and drives early stopping.
    pub select: SelectBy,
    /// The family objective trained together with the DGA one, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_family: Option<JointFamily>,
}

/// Family classification as a second objective on the transformer's states: the family head
/// of [`ModelConfig::family`] is trained with the DGA head, its cross-entropy on the DGA names
/// of known families added to the DGA loss at `weight`. The head itself is refitted after
/// training (`crate::family::add_family`), so what this buys is features that tell generators
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JointFamily {
    pub weight: f32,
    /// Families whose class is this modulo [`crate::family::FOLDS`] add no family loss, so
    /// that the open-set measure on them (the head's fold that holds them out) is not flattered
    /// by features trained to tell them apart.
    pub held_out_fold: Option<usize>,
}

/// Per-row targets of [`JointFamily`]: each family's class, held-out ones left out.
pub(crate) struct FamilyTargets {
    weight: f32,
    class: HashMap<String, u32>,
}

impl FamilyTargets {
    fn of(settings: &TrainSettings) -> Option<Self> {
        let joint = settings.joint_family?;
        let names = &settings.model.family.as_ref()?.names;
        let held = |c: usize| joint.held_out_fold == Some(c % crate::family::FOLDS);
        Some(Self {
            weight: joint.weight,
            class: names
                .iter()
                .enumerate()
                .filter(|&(c, _)| !held(c))
                .map(|(c, n)| (n.clone(), c as u32))
                .collect(),
        })
    }

    /// Mean cross-entropy of `logits` (`[batch, families]`) on the rows with a class.
    fn loss<B: Backend>(&self, logits: Tensor<B, 2>, rows: &[&Example]) -> Option<Tensor<B, 1>> {
        let device = logits.device();
        let classes: Vec<Option<u32>> = rows
            .iter()
            .map(|e| {
                e.is_dga
                    .then(|| self.class.get(&e.family).copied())
                    .flatten()
            })
            .collect();
        let counted = classes.iter().flatten().count();
        if counted == 0 {
            return None;
        }
        let target: Vec<i64> = classes.iter().map(|c| i64::from(c.unwrap_or(0))).collect();
        let mask: Vec<f32> = classes
            .iter()
            .map(|c| f32::from(u8::from(c.is_some())))
            .collect();
        let n = rows.len();
        let target = Tensor::<B, 2, Int>::from_data(TensorData::new(target, [n, 1]), &device);
        let mask = Tensor::<B, 1>::from_data(TensorData::new(mask, [n]), &device);
        let picked = burn::tensor::activation::log_softmax(logits, 1)
            .gather(1, target)
            .reshape([n]); // [batch]
        Some((picked * mask).sum().neg() * (self.weight / counted as f32))
    }
}

/// The validation measure that picks the shipped checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum SelectBy {
    /// F1 at `p_dga` 0.5.
    F1,
    /// TPR at FPR 1% plus TPR at FPR 0.1%: ranking in the tail where a SOC sets its threshold.
    /// F1 keeps rising after the tail has started to degrade, so it picks overconfident models.
    LowFpr,
}

impl SelectBy {
    pub fn score(self, report: &metrics::Report) -> f64 {
        match self {
            SelectBy::F1 => report.f1,
            SelectBy::LowFpr => report.tpr_at_fpr_1pct + report.tpr_at_fpr_0_1pct,
        }
    }
}

/// Progress that a checkpoint carries, written last so a half-written checkpoint is never used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    step: usize,
    /// Validation F1 of the best checkpoint.
    best_f1: f64,
    /// Its selection score (see [`SelectBy`]).
    #[serde(default)]
    best_score: f64,
    best_step: usize,
    validations_without_gain: usize,
    history: Vec<Validation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Validation {
    step: usize,
    loss: f64,
    f1: f64,
    roc_auc: f64,
    #[serde(default)]
    tpr_at_fpr_0_1pct: f64,
    samples_per_s: f64,
}

/// What a finished run leaves behind.
pub struct Outcome {
    /// The step an interrupted run was resumed from, if it was.
    pub resumed_from: Option<usize>,
    pub best_weights: PathBuf,
    pub best_f1: f64,
    pub steps: usize,
    pub samples_per_s: f64,
}

pub struct TrainJob<'a> {
    pub settings: TrainSettings,
    pub train: &'a [Example],
    pub val: &'a [Example],
    pub run_dir: PathBuf,
    pub stop: Stop,
    /// Batch shapes; `None` picks them by backend (see [`crate::backend::shapes_for`]).
    pub shapes: Option<Shapes>,
}

/// When a run stops before `max_steps` (besides early stopping on `patience`); each rule is
/// checked at validations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop {
    /// Wall-clock limit, from the start of training.
    pub after_minutes: Option<f64>,
    /// Validation F1 that ends the run once reached: measures time to a given quality.
    pub at_f1: Option<f64>,
}

impl Job for TrainJob<'_> {
    type Output = Outcome;

    fn run<B: AutodiffBackend>(
        self,
        device: B::Device,
        backend_name: &'static str,
    ) -> Result<Outcome> {
        train::<B>(self, device, backend_name)
    }
}

fn train<B: AutodiffBackend>(
    job: TrainJob,
    device: B::Device,
    backend_name: &str,
) -> Result<Outcome> {
    let TrainJob {
        settings,
        train,
        val,
        run_dir,
        stop,
        shapes,
    } = job;
    let shapes = shapes.unwrap_or_else(|| crate::backend::shapes_for(backend_name));
    if train.is_empty() || val.is_empty() {
        bail!(
            "training needs both training and validation examples (got {} and {})",
            train.len(),
            val.len()
        );
    }
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    B::seed(&device, settings.seed);

    let mut model: DgaModel<B> = settings.model.init(&device);
    let mut optim = optimiser::<B>(settings.weight_decay);
    let mut progress = Progress::default();
    let mut resumed_from = None;
    let checkpoints = Checkpoints::new(&run_dir);
    match checkpoints.latest()? {
        Some(dir) => {
            let saved: TrainSettings = read_json(&run_dir.join("settings.json"))?;
            if saved != settings {
                bail!(
                    "{} holds a run with other settings; pass --fresh to start over or --run-dir for a new folder",
                    run_dir.display()
                );
            }
            let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
            let model_record = recorder
                .load(read(&dir.join("model.mpk"))?, &device)
                .context("model checkpoint")?;
            let optim_record = recorder
                .load(read(&dir.join("optim.mpk"))?, &device)
                .context("optimiser checkpoint")?;
            model = model.load_record(model_record);
            optim = optim.load_record(optim_record);
            progress = read_json(&dir.join("progress.json"))?;
            resumed_from = Some(progress.step);
            eprintln!("resuming {} from step {}", run_dir.display(), progress.step);
        }
        None => write_json(&run_dir.join("settings.json"), &settings)?,
    }

    let mut scheduler = ComposedLrSchedulerConfig::new()
        .linear(LinearLrSchedulerConfig::new(
            0.01,
            1.0,
            settings.warmup_steps.max(1),
        ))
        .cosine(
            CosineAnnealingLrSchedulerConfig::new(
                settings.learning_rate,
                settings.max_steps.max(1),
            )
            .with_min_lr(settings.learning_rate * 0.02),
        )
        .init()
        .map_err(|e| anyhow::anyhow!("learning-rate schedule: {e}"))?;
    // The schedule is a pure function of the step: replaying it is cheaper than storing it.
    for _ in 0..progress.step {
        scheduler.step();
    }

    let family_targets = FamilyTargets::of(&settings);
    let sampler = EpochSampler::new(
        train,
        settings.family_cap,
        settings.batch_size,
        settings.seed,
    );
    let val_set = validation_subset(val, settings.val_samples, settings.seed);
    eprintln!(
        "training {} parameters on {backend_name} ({shapes:?} batch shapes): {} training names ({} per epoch after capping families at {}), {} for validation",
        model.num_params(),
        train.len(),
        sampler.epoch_len(),
        settings.family_cap,
        val_set.len()
    );

    let bar = ProgressBar::new(settings.max_steps as u64).with_position(progress.step as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg} ETA {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let deadline = stop
        .after_minutes
        .map(|m| started + std::time::Duration::from_secs_f64(m * 60.0));
    let (mut window_samples, mut window_start) = (0usize, Instant::now());
    // The loss is summed on the device and read every LOSS_READ_EVERY steps: reading it each
    // step would make the host wait for the GPU to finish every step before queueing the next.
    let mut loss_sum: Option<Tensor<B, 1>> = None;
    let mut loss_steps = 0usize;
    let mut loss_mean = f64::NAN;
    let mut last_rate = 0.0;
    let mut first_step_logged = progress.step > 0;

    'outer: while progress.step < settings.max_steps {
        let (epoch, offset) = (
            progress.step / sampler.batches_per_epoch(),
            progress.step % sampler.batches_per_epoch(),
        );
        for batch in sampler.epoch(epoch).into_iter().skip(offset) {
            let rows: Vec<&Example> = batch.iter().map(|&i| &train[i]).collect();
            let loss;
            (model, loss) = step(
                model,
                &mut optim,
                &rows,
                family_targets.as_ref(),
                shapes,
                scheduler.step(),
                &device,
                |_| {},
            );
            loss_sum = Some(loss_sum.map_or(loss.clone(), |sum| sum + loss));
            loss_steps += 1;
            progress.step += 1;
            window_samples += batch.len();
            let validating = progress.step % settings.val_every == 0;
            if (progress.step % LOSS_READ_EVERY == 0 || validating || !first_step_logged)
                && let Some(sum) = loss_sum.take()
            {
                let sum: f64 = sum.into_scalar().elem();
                loss_mean = sum / loss_steps as f64;
                loss_steps = 0;
            }
            if !first_step_logged {
                // The loss read above waited for the step, so this is when it finished: on a
                // GPU, mostly kernel compilation and autotuning (see docs/training.md, "GPU shapes and kernel cache").
                first_step_logged = true;
                bar.suspend(|| {
                    eprintln!(
                        "first step done {:.1} s after start",
                        started.elapsed().as_secs_f64()
                    )
                });
            }
            if progress.step % LOSS_READ_EVERY == 0 {
                last_rate = window_samples as f64 / window_start.elapsed().as_secs_f64();
                let last_f1 = progress.history.last().map_or(f64::NAN, |v| v.f1);
                bar.set_position(progress.step as u64);
                bar.set_message(format!(
                    "loss {loss_mean:.4} {last_rate:.0} samples/s val F1 {last_f1:.4}"
                ));
            }
            let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
            let last = progress.step >= settings.max_steps || out_of_time;
            if validating || last {
                if let Some(sum) = loss_sum.take() {
                    let sum: f64 = sum.into_scalar().elem();
                    loss_mean = sum / loss_steps as f64;
                    loss_steps = 0;
                }
                let rate = window_samples as f64 / window_start.elapsed().as_secs_f64();
                let report = validate(
                    &model,
                    &settings.model,
                    &val_set,
                    shapes,
                    settings.batch_size,
                    &device,
                );
                let score = settings.select.score(&report);
                let improved = score > progress.best_score;
                progress.history.push(Validation {
                    step: progress.step,
                    loss: loss_mean,
                    f1: report.f1,
                    roc_auc: report.roc_auc,
                    tpr_at_fpr_0_1pct: report.tpr_at_fpr_0_1pct,
                    samples_per_s: rate,
                });
                if improved {
                    progress.best_f1 = report.f1;
                    progress.best_score = score;
                    progress.best_step = progress.step;
                    progress.validations_without_gain = 0;
                    let weights = encode_weights(&settings.model, model.valid());
                    write_atomic(&run_dir.join("best.dgaw"), &weights)?;
                } else {
                    progress.validations_without_gain += 1;
                }
                bar.suspend(|| {
                    eprintln!(
                        "step {:>6}  {:>5.0} s  loss {loss_mean:.4}  {rate:>6.0} samples/s  val F1 {:.4}  AUC {:.5}  TPR {:.3} / {:.3} at FPR 1% / 0.1%{}",
                        progress.step,
                        started.elapsed().as_secs_f64(),
                        report.f1,
                        report.roc_auc,
                        report.tpr_at_fpr_1pct,
                        report.tpr_at_fpr_0_1pct,
                        if improved { "  (best)" } else { "" }
                    )
                });
                checkpoints.save(&model, &optim, &progress)?;
                (window_samples, window_start) = (0, Instant::now());
                if progress.validations_without_gain >= settings.patience {
                    bar.suspend(|| {
                        eprintln!(
                            "stopping early: no gain in {} validations",
                            settings.patience
                        )
                    });
                    break 'outer;
                }
                if out_of_time {
                    bar.suspend(|| eprintln!("stopping: time limit reached"));
                    break 'outer;
                }
                if let Some(target) = stop.at_f1.filter(|&t| report.f1 >= t) {
                    bar.suspend(|| {
                        eprintln!(
                            "stopping: validation F1 {:.4} reached {target} at step {}, {:.1} s after training started",
                            report.f1,
                            progress.step,
                            started.elapsed().as_secs_f64()
                        )
                    });
                    break 'outer;
                }
            }
            if progress.step >= settings.max_steps {
                break 'outer;
            }
        }
    }
    bar.finish_and_clear();
    let mean_rate = {
        let rates: Vec<f64> = progress.history.iter().map(|v| v.samples_per_s).collect();
        if rates.is_empty() {
            last_rate
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        }
    };
    Ok(Outcome {
        resumed_from,
        best_weights: run_dir.join("best.dgaw"),
        best_f1: progress.best_f1,
        steps: progress.step,
        samples_per_s: mean_rate,
    })
}

/// AdamW with gradient clipping: what `train` and `bench-train` step with.
pub(crate) fn optimiser<B: AutodiffBackend>(weight_decay: f32) -> impl Optimizer<DgaModel<B>, B> {
    AdamWConfig::new()
        .with_weight_decay(weight_decay)
        .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
        .init::<B, DgaModel<B>>()
}

/// The parts of a training step, in the order they run: what `bench-train --phase-steps`
/// times apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Token, n-gram and mask arrays built on the host.
    Pack,
    /// Those arrays and the labels copied to the device.
    Upload,
    /// Logits and the loss.
    Forward,
    /// Gradients of every parameter.
    Backward,
    /// Gradient clipping and the AdamW update.
    Optimiser,
}

impl Phase {
    pub(crate) const ALL: [Phase; 5] = [
        Phase::Pack,
        Phase::Upload,
        Phase::Forward,
        Phase::Backward,
        Phase::Optimiser,
    ];
}

/// One optimisation step on `rows`; returns the updated model and the batch's mean loss, left
/// on the device (reading it would wait for the step to finish). `queued(phase)` is called once
/// each phase's work has been handed to the device (`bench-train` times them; training passes
/// `|_| {}`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn step<B: AutodiffBackend, O: Optimizer<DgaModel<B>, B>>(
    model: DgaModel<B>,
    optim: &mut O,
    rows: &[&Example],
    family: Option<&FamilyTargets>,
    shapes: Shapes,
    learning_rate: f64,
    device: &B::Device,
    mut queued: impl FnMut(Phase),
) -> (DgaModel<B>, Tensor<B, 1>) {
    let tokens: Vec<&[u32]> = rows.iter().map(|e| e.tokens.as_slice()).collect();
    let targets: Vec<i32> = rows.iter().map(|e| e.is_dga as i32).collect();
    let host = model.host_batch(&tokens, shapes);
    queued(Phase::Pack);
    let batch = host.upload(device);
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [rows.len()]), device);
    queued(Phase::Upload);
    let (logits, family_logits) = model.forward_heads(batch);
    let mut loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits, targets);
    if let Some(extra) = family.zip(family_logits).and_then(|(f, l)| f.loss(l, rows)) {
        loss = loss + extra;
    }
    queued(Phase::Forward);
    let detached = loss.clone().detach();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    queued(Phase::Backward);
    let model = optim.step(learning_rate, model, grads);
    queued(Phase::Optimiser);
    (model, detached)
}

fn validate<B: AutodiffBackend>(
    model: &DgaModel<B>,
    config: &ModelConfig,
    val: &[&Example],
    shapes: Shapes,
    batch_size: usize,
    device: &B::Device,
) -> metrics::Report {
    let mut detector = Detector::new(config.clone(), model.valid(), device.clone());
    if shapes == Shapes::Fixed {
        // The training batch size: one more shape per length bucket, not one per chunk size.
        (detector.shapes, detector.batch_size) = (shapes, batch_size);
    }
    let sequences: Vec<Vec<u32>> = val.iter().map(|e| e.tokens.clone()).collect();
    metrics::evaluate_examples(
        val.iter().copied(),
        &detector.logits_of_sequences(&sequences),
    )
}

/// A fixed, seeded subset of the validation split, so every validation is comparable.
fn validation_subset(val: &[Example], n: usize, seed: u64) -> Vec<&Example> {
    let mut subset: Vec<&Example> = val.iter().collect();
    subset.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed));
    subset.truncate(n);
    subset
}

/// Draws each epoch as a fresh, seeded sample: every benign name, and at most `family_cap` names
/// of each DGA family, so seven 100k-row families do not drown ninety small ones.
pub(crate) struct EpochSampler {
    groups: Vec<Vec<usize>>,
    caps: Vec<usize>,
    lengths: Vec<usize>,
    batch_size: usize,
    seed: u64,
}

/// Batches are cut from length-sorted runs of this many batches, so padding stays short while
/// batch order stays random.
const BUCKET_BATCHES: usize = 32;

/// Steps between reads of the training loss (each read waits for the device).
const LOSS_READ_EVERY: usize = 20;

impl EpochSampler {
    pub(crate) fn new(train: &[Example], family_cap: usize, batch_size: usize, seed: u64) -> Self {
        let mut by_family: BTreeMap<(bool, &str), Vec<usize>> = BTreeMap::new();
        for (i, e) in train.iter().enumerate() {
            by_family.entry((e.is_dga, &e.family)).or_default().push(i);
        }
        let caps = by_family
            .iter()
            .map(|((is_dga, _), v)| {
                if *is_dga {
                    v.len().min(family_cap)
                } else {
                    v.len()
                }
            })
            .collect();
        Self {
            groups: by_family.into_values().collect(),
            caps,
            lengths: train.iter().map(|e| e.tokens.len()).collect(),
            batch_size,
            seed,
        }
    }

    fn epoch_len(&self) -> usize {
        self.caps.iter().sum()
    }

    fn batches_per_epoch(&self) -> usize {
        self.epoch_len().div_ceil(self.batch_size).max(1)
    }

    /// The epoch's batches: a pure function of (seed, epoch), which is what makes resuming exact.
    pub(crate) fn epoch(&self, epoch: usize) -> Vec<Vec<usize>> {
        let mut rng =
            StdRng::seed_from_u64(self.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let mut picked = Vec::with_capacity(self.epoch_len());
        for (group, &cap) in self.groups.iter().zip(&self.caps) {
            let mut group = group.clone();
            group.shuffle(&mut rng);
            picked.extend_from_slice(&group[..cap]);
        }
        picked.shuffle(&mut rng);
        // Every batch is full (a GPU compiles kernels per shape): the last one is topped up
        // with names from the start of the epoch.
        let short = picked.len() % self.batch_size;
        if short != 0 {
            let fill: Vec<usize> = picked
                .iter()
                .cycle()
                .take(self.batch_size - short)
                .copied()
                .collect();
            picked.extend(fill);
        }
        let mut batches = Vec::with_capacity(self.batches_per_epoch());
        for run in picked.chunks_mut(self.batch_size * BUCKET_BATCHES) {
            run.sort_by_key(|&i| self.lengths[i]);
            batches.extend(run.chunks(self.batch_size).map(<[usize]>::to_vec));
        }
        batches.shuffle(&mut rng);
        batches
    }
}

/// Checkpoints live in numbered folders; `latest` names the last complete one and is replaced
/// atomically, so `kill -9` at any moment leaves a usable checkpoint.
struct Checkpoints {
    root: PathBuf,
}

impl Checkpoints {
    fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.root.join("latest");
        if !pointer.exists() {
            return Ok(None);
        }
        let name = std::fs::read_to_string(&pointer)
            .with_context(|| format!("cannot read {}", pointer.display()))?;
        Ok(Some(self.root.join(name.trim())))
    }

    fn save<B: AutodiffBackend, O: Optimizer<DgaModel<B>, B>>(
        &self,
        model: &DgaModel<B>,
        optim: &O,
        progress: &Progress,
    ) -> Result<()> {
        let previous = self.latest()?;
        let name = format!("step-{:08}", progress.step);
        let dir = self.root.join(&name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let model_bytes = recorder
            .record(model.clone().into_record(), ())
            .context("model record")?;
        let optim_bytes =
            Recorder::<B>::record(&recorder, optim.to_record(), ()).context("optimiser record")?;
        std::fs::write(dir.join("model.mpk"), model_bytes)?;
        std::fs::write(dir.join("optim.mpk"), optim_bytes)?;
        write_json(&dir.join("progress.json"), progress)?;
        write_atomic(&self.root.join("latest"), name.as_bytes())?;
        if let Some(old) = previous.filter(|old| *old != dir) {
            let _ = std::fs::remove_dir_all(old);
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?).with_context(|| format!("{} is not valid", path.display()))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(value)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use model_core::{ModelSize, Tokeniser, normalise};
    use rand::Rng;

    type B = Autodiff<Flex>;

    /// A generated fixture: pronounceable benign names against random-letter DGA names.
    pub(crate) fn fixture(n: usize, seed: u64) -> Vec<Example> {
        let mut rng = StdRng::seed_from_u64(seed);
        let tokeniser = Tokeniser::new(ModelSize::Tiny.config().tokeniser);
        let syllables = [
            "ka", "mo", "ri", "ta", "ne", "lo", "sun", "bar", "in", "way", "go", "el",
        ];
        (0..n)
            .map(|i| {
                let is_dga = i % 2 == 0;
                let label: String = if is_dga {
                    (0..rng.random_range(8..16))
                        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                        .collect()
                } else {
                    (0..rng.random_range(2..5))
                        .map(|_| syllables[rng.random_range(0..syllables.len())])
                        .collect()
                };
                let domain =
                    normalise(&format!("{label}{i}.com")).expect("fixture names are valid");
                let family = if is_dga { "random" } else { "legit" };
                Example::of(&domain, &tokeniser, is_dga, family, "fixture")
            })
            .collect()
    }

    fn settings(max_steps: usize) -> TrainSettings {
        TrainSettings {
            model: ModelSize::Tiny.config(),
            batch_size: 64,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            warmup_steps: 10,
            max_steps,
            val_every: 40,
            val_samples: 400,
            patience: 100,
            family_cap: 10_000,
            seed: 1,
            select: SelectBy::F1,
            joint_family: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dga-train-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn tiny_fixture_is_learned() {
        let (train_set, val_set) = (fixture(4000, 1), fixture(400, 2));
        let run_dir = temp_dir("learn");
        let job = TrainJob {
            settings: settings(160),
            train: &train_set,
            val: &val_set,
            run_dir,
            stop: Stop::default(),
            // The GPU's fixed shapes, here on the CPU: bucketed lengths, full batches.
            shapes: Some(Shapes::Fixed),
        };
        let outcome = train::<B>(job, Default::default(), "test").unwrap();
        assert_eq!(outcome.steps, 160);
        assert!(outcome.best_f1 > 0.9, "validation F1 {}", outcome.best_f1);
        let weights = std::fs::read(&outcome.best_weights).unwrap();
        let detector = Detector::<Flex>::from_weights(&weights, Default::default()).unwrap();
        let p = |name: &str| detector.score(&[name])[0].result.as_ref().unwrap().p_dga;
        assert!(p("xqzvkwpjtr77.com") > p("kamoritasun77.com"));
    }

    #[test]
    fn reaching_the_target_f1_stops_the_run_at_that_validation() {
        let (train_set, val_set) = (fixture(4000, 1), fixture(400, 2));
        let job = TrainJob {
            settings: settings(400),
            train: &train_set,
            val: &val_set,
            run_dir: temp_dir("target"),
            stop: Stop {
                at_f1: Some(0.9),
                ..Stop::default()
            },
            shapes: None,
        };
        let outcome = train::<B>(job, Default::default(), "test").unwrap();
        assert!(outcome.best_f1 >= 0.9, "validation F1 {}", outcome.best_f1);
        // Validations come every 40 steps; the first one at or above 0.9 ends the run.
        assert!(
            outcome.steps < 400 && outcome.steps.is_multiple_of(40),
            "{} steps",
            outcome.steps
        );
    }

    #[test]
    fn interrupted_run_resumes_from_its_checkpoint() {
        let (train_set, val_set) = (fixture(1000, 3), fixture(200, 4));
        let run_dir = temp_dir("resume");
        // A time limit of zero stops after the first step's checkpoint, as a crash would.
        let first = TrainJob {
            settings: settings(60),
            train: &train_set,
            val: &val_set,
            run_dir: run_dir.clone(),
            stop: Stop {
                after_minutes: Some(0.0),
                ..Stop::default()
            },
            shapes: None,
        };
        let stopped = train::<B>(first, Default::default(), "test").unwrap();
        assert_eq!((stopped.steps, stopped.resumed_from), (1, None));
        let again = TrainJob {
            settings: settings(60),
            train: &train_set,
            val: &val_set,
            run_dir: run_dir.clone(),
            stop: Stop::default(),
            shapes: None,
        };
        let finished = train::<B>(again, Default::default(), "test").unwrap();
        assert_eq!((finished.steps, finished.resumed_from), (60, Some(1)));
        // Other settings in the same folder are refused rather than silently mixed.
        let changed = TrainJob {
            settings: settings(80),
            train: &train_set,
            val: &val_set,
            run_dir,
            stop: Stop::default(),
            shapes: None,
        };
        assert!(train::<B>(changed, Default::default(), "test").is_err());
    }

    #[test]
    fn epochs_cap_large_families_and_are_repeatable() {
        let mut examples = fixture(2000, 5);
        for e in examples.iter_mut().filter(|e| e.is_dga).take(50) {
            e.family = "small".into();
        }
        let sampler = EpochSampler::new(&examples, 300, 32, 9);
        // 1000 benign + 300 capped "random" + 50 "small".
        assert_eq!(sampler.epoch_len(), 1350);
        assert_eq!(sampler.epoch(3), sampler.epoch(3));
        assert_ne!(sampler.epoch(3), sampler.epoch(4));
        // 1350 names in batches of 32: the last batch is topped up to 32 from the start.
        let epoch = sampler.epoch(0);
        assert_eq!(epoch.len(), 43);
        assert!(epoch.iter().all(|b| b.len() == 32));
        let distinct: std::collections::HashSet<usize> = epoch.iter().flatten().copied().collect();
        assert_eq!(distinct.len(), 1350);
    }
}
