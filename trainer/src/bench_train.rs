//! `trainer bench-train`: training throughput and time to the first step, per batch size, on
//! the batches `train` itself draws. `bench/gpu.sh` runs it beside a PyTorch model of the same
//! architecture trained on the very same batches (`--write-batches`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use model_core::{DgaModel, ModelSize, Tokeniser};
use serde::Serialize;

use crate::backend::{BackendArg, Job, Precision, dispatch_with, shapes_for};
use crate::inputs::{DataArgs, load_splits};
use crate::split::Example;
use crate::train::{EpochSampler, Phase, optimiser, step};

#[derive(Args)]
pub struct BenchTrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_enum, default_value = "seed")]
    size: ModelSize,
    #[arg(long, value_delimiter = ',', default_value = "512,2048")]
    batch_sizes: Vec<usize>,
    /// Steps run before timing starts (kernel compilation and autotuning happen here).
    #[arg(long, default_value_t = 30)]
    warmup_steps: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Steps run after the timed ones with the device synchronised after each phase (packing,
    /// upload, forward, backward, optimiser), to show where a step's time goes; 0 skips them.
    /// Synchronising stops the phases overlapping, so their sum exceeds a pipelined step.
    #[arg(long, default_value_t = 0)]
    phase_steps: usize,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Float type of the whole model on CUDA (`f16`/`bf16` train in half precision).
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// Write the batches (token ids and labels, one batch per line) to DIR/batches-<size>.txt
    /// for the PyTorch side of `bench/gpu.sh`.
    #[arg(long)]
    write_batches: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// One measurement, printed as a JSON line for `bench/gpu.sh` and as a table row.
#[derive(Serialize)]
struct Measure {
    implementation: &'static str,
    backend: String,
    precision: &'static str,
    batch: usize,
    /// Seconds from the model's creation to the end of its first step.
    first_step_s: f64,
    samples_per_s: f64,
    steps: usize,
    /// Mean milliseconds per phase over `--phase-steps` synchronised steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    phases_ms: Option<PhaseTimes>,
}

/// Milliseconds per step spent in each [`Phase`].
#[derive(Serialize, Default)]
struct PhaseTimes {
    pack: f64,
    upload: f64,
    forward: f64,
    backward: f64,
    optimiser: f64,
}

impl PhaseTimes {
    fn scale(&mut self, by: f64) {
        for phase in Phase::ALL {
            *self.slot(phase) *= by;
        }
    }

    fn slot(&mut self, phase: Phase) -> &mut f64 {
        match phase {
            Phase::Pack => &mut self.pack,
            Phase::Upload => &mut self.upload,
            Phase::Forward => &mut self.forward,
            Phase::Backward => &mut self.backward,
            Phase::Optimiser => &mut self.optimiser,
        }
    }
}

struct BenchTrainJob<'a> {
    size: ModelSize,
    batches: &'a [Vec<&'a Example>],
    warmup_steps: usize,
    phase_steps: usize,
    learning_rate: f64,
    seed: u64,
    precision: Precision,
}

impl Job for BenchTrainJob<'_> {
    type Output = Measure;

    fn run<B: AutodiffBackend>(self, device: B::Device, backend: &'static str) -> Result<Measure> {
        let shapes = shapes_for(backend);
        B::seed(&device, self.seed);
        let started = Instant::now();
        let mut model: DgaModel<B> = self.size.config().init(&device);
        let mut optim = optimiser::<B>(0.01);
        let mut first_step_s = f64::NAN;
        let mut timed_from = None;
        let mut loss = None;
        for (i, rows) in self.batches.iter().enumerate() {
            if i == self.warmup_steps {
                // Wait for the warm-up's work before the clock starts.
                sync(loss.take());
                timed_from = Some(Instant::now());
            }
            let step_loss;
            (model, step_loss) = step(
                model,
                &mut optim,
                rows,
                None,
                shapes,
                self.learning_rate,
                &device,
                |_| {},
            );
            loss = Some(step_loss);
            if i == 0 {
                sync(loss.take());
                first_step_s = started.elapsed().as_secs_f64();
            }
        }
        let last = loss.take().map(|l| l.into_scalar().elem::<f64>());
        if last.is_some_and(|l| !l.is_finite()) {
            bail!("the loss is not finite on {backend}");
        }
        let timed = self.batches.len() - self.warmup_steps;
        let secs = timed_from.map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
        let mut phases_ms = None;
        if self.phase_steps > 0 {
            let mut times = PhaseTimes::default();
            for rows in self.batches.iter().cycle().take(self.phase_steps) {
                // Nothing may be in flight when the first phase's clock starts.
                sync_device::<B>(&device, backend)?;
                let mut since = Instant::now();
                let mut failed = None;
                let queued = |phase| {
                    if let Err(e) = sync_device::<B>(&device, backend) {
                        failed.get_or_insert(e);
                    }
                    *times.slot(phase) += since.elapsed().as_secs_f64() * 1e3;
                    since = Instant::now();
                };
                (model, _) = step(
                    model,
                    &mut optim,
                    rows,
                    None,
                    shapes,
                    self.learning_rate,
                    &device,
                    queued,
                );
                if let Some(e) = failed {
                    return Err(e);
                }
            }
            times.scale(1.0 / self.phase_steps as f64);
            phases_ms = Some(times);
        }
        Ok(Measure {
            implementation: "trainer",
            backend: format!("{backend} ({shapes:?} shapes)"),
            precision: self.precision.name(),
            batch: self.batches[0].len(),
            first_step_s,
            samples_per_s: (timed * self.batches[0].len()) as f64 / secs,
            steps: timed,
            phases_ms,
        })
    }
}

/// Waits for every operation queued on `device`.
fn sync_device<B: Backend>(device: &B::Device, backend: &str) -> Result<()> {
    B::sync(device).map_err(|e| anyhow::anyhow!("synchronising {backend} failed: {e:?}"))
}

/// Waits for the device by reading a value the queued work produces.
fn sync<B: Backend>(loss: Option<Tensor<B, 1>>) {
    if let Some(loss) = loss {
        let _: f64 = loss.into_scalar().elem();
    }
}

pub fn run(args: BenchTrainArgs) -> Result<()> {
    if args.steps == 0 || args.batch_sizes.contains(&0) {
        bail!("--steps and every --batch-sizes entry must be at least 1");
    }
    let tokeniser = Tokeniser::new(args.size.config().tokeniser);
    let splits = load_splits(&args.data, &tokeniser)?;
    let mut measures = Vec::new();
    for &batch_size in &args.batch_sizes {
        let sampler = EpochSampler::new(&splits.train, 15_000, batch_size, args.seed);
        let needed = args.warmup_steps + args.steps;
        let batches: Vec<Vec<&Example>> = (0..)
            .flat_map(|epoch| sampler.epoch(epoch))
            .take(needed)
            .map(|b| b.iter().map(|&i| &splits.train[i]).collect())
            .collect();
        if let Some(dir) = &args.write_batches {
            write_batches(&dir.join(format!("batches-{batch_size}.txt")), &batches)?;
        }
        let measure = dispatch_with(
            args.backend,
            args.precision,
            BenchTrainJob {
                size: args.size,
                batches: &batches,
                warmup_steps: args.warmup_steps,
                phase_steps: args.phase_steps,
                learning_rate: args.learning_rate,
                seed: args.seed,
                precision: args.precision,
            },
        )?;
        println!("{}", serde_json::to_string(&measure)?);
        measures.push(measure);
    }
    eprintln!(
        "{:<28} {:>9} {:>6} {:>14} {:>12}",
        "backend", "precision", "batch", "first step, s", "samples/s"
    );
    for m in &measures {
        eprintln!(
            "{:<28} {:>9} {:>6} {:>14.1} {:>12.0}",
            m.backend, m.precision, m.batch, m.first_step_s, m.samples_per_s
        );
    }
    Ok(())
}

/// One batch per line: `label:id id id` per name, names separated by `|` (label 1 = DGA).
fn write_batches(path: &std::path::Path, batches: &[Vec<&Example>]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for batch in batches {
        let line: Vec<String> = batch
            .iter()
            .map(|e| {
                let ids: Vec<String> = e.tokens.iter().map(u32::to_string).collect();
                format!("{}:{}", e.is_dga as u8, ids.join(" "))
            })
            .collect();
        writeln!(out, "{}", line.join("|"))?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
