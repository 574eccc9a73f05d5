//! `dga bench`: scoring speed per model and batch size on the CPU backend, side by side in one
//! run.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use model_core::Detector;

use crate::scoring::SHIPPED_WEIGHTS;
use labelled::data::DEFAULT_DATA;

#[derive(Args)]
pub struct BenchArgs {
    /// Weights to benchmark, comma-separated to compare models side by side; default: the
    /// shipped weights compiled into this binary.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<std::path::PathBuf>,
    /// A file of names to score (one per line); default: the first --lines names of the test data.
    #[arg(long, env = "DGA_DATA", default_value = DEFAULT_DATA)]
    data: std::path::PathBuf,
    /// Names scored per measurement.
    #[arg(long, default_value_t = 100_000)]
    lines: usize,
    #[arg(long, value_delimiter = ',', default_value = "128,512,2048")]
    batch_sizes: Vec<usize>,
}

struct Row {
    model: String,
    batch: usize,
    per_s: f64,
    single_ms: f64,
}

struct BenchJob<'a> {
    model: &'a str,
    weights: &'a [u8],
    names: &'a [String],
    batch_sizes: &'a [usize],
}

impl BenchJob<'_> {
    fn run(&self) -> Result<Vec<Row>> {
        let mut detector =
            Detector::<crate::CpuBackend>::from_weights(self.weights, Default::default())?;
        let single_ms = single_latency_ms(&detector, self.names);
        let mut rows = Vec::new();
        for &batch in self.batch_sizes {
            detector.batch_size = batch;
            detector.score(&self.names[..self.names.len().min(2000)]); // warm-up
            let started = Instant::now();
            let verdicts =
                model_core::parallel::map_chunks(self.names, batch, |part| detector.score(part));
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(verdicts.len(), self.names.len());
            rows.push(Row {
                model: self.model.to_owned(),
                batch,
                per_s: self.names.len() as f64 / secs,
                single_ms,
            });
        }
        Ok(rows)
    }
}

/// Median time to score one name on its own, the case of a person typing into a form.
fn single_latency_ms(detector: &Detector<crate::CpuBackend>, names: &[String]) -> f64 {
    let mut times: Vec<f64> = names
        .iter()
        .take(300)
        .map(|name| {
            let started = Instant::now();
            detector.score(std::slice::from_ref(name));
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn run(args: BenchArgs) -> Result<()> {
    let loaded = labelled::data::load(&args.data, Some(labelled::data::ListLabel::Dga))?;
    // Spread the picks over the sorted file so the sample mixes short benign and long DGA names.
    let stride = (loaded.samples.len() / args.lines.max(1)).max(1);
    let names: Vec<String> = loaded
        .samples
        .iter()
        .step_by(stride)
        .take(args.lines)
        .map(|s| s.domain.clone())
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "scoring {} names from {} on {threads} threads",
        names.len(),
        args.data.display()
    );
    let mut table = Vec::new();
    let mut models = Vec::new();
    for path in &args.weights {
        let stem = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        models.push((stem, labelled::files::read_weights(path)?));
    }
    if models.is_empty() {
        models.push(("shipped".to_owned(), SHIPPED_WEIGHTS.to_vec()));
    }
    for (stem, weights) in &models {
        let config = model_core::weights::decode_config(weights)?;
        let model = format!(
            "{stem} ({}L d{} {}, {:.0} KiB)",
            config.n_layers,
            config.d_model,
            if config.ngram_embeddings {
                "n-grams"
            } else {
                "chars"
            },
            weights.len() as f64 / 1024.0
        );
        let job = BenchJob {
            model: &model,
            weights,
            names: &names,
            batch_sizes: &args.batch_sizes,
        };
        table.extend(job.run()?);
    }
    println!(
        "{:<40} {:>6} {:>12} {:>16}",
        "model", "batch", "names/s", "one name, ms"
    );
    for r in table {
        println!(
            "{:<40} {:>6} {:>12.0} {:>16.3}",
            r.model, r.batch, r.per_s, r.single_ms
        );
    }
    Ok(())
}
