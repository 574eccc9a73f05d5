//! The character n-gram regression we are measured against, by its recipe: sublinear TF-IDF
//! over 1- to 5-grams, each name's vector scaled to unit length, and an L2-regularised logistic
//! loss minimised by L-BFGS (argmin), its C chosen on validation. The n-grams are hashed
//! ([`model_core::tokeniser::hashed_ngrams`], the wide part's hash) rather than counted into a
//! vocabulary, so that names never seen in training still find their buckets; with 2^20
//! buckets collisions are rare.
//!
//! `generalise` measures it as a reference row and, with `--ngram-recipe tfidf`, as the model's
//! n-gram part.

use anyhow::Result;
use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use clap::Args;
use model_core::tokeniser::hashed_ngrams;
use model_core::words::{Lexicon, WORD_BUCKETS};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::split::Example;

/// The longest n-gram the regression reads.
const ORDERS: usize = 5;

/// How the TF-IDF regression is fitted.
#[derive(Args, Clone, Debug)]
pub struct TfidfArgs {
    /// Hash bits of the TF-IDF regression's n-gram table.
    #[arg(long, default_value_t = 20)]
    pub tfidf_bits: u32,
    /// Inverse L2 strengths tried, as scikit-learn's `C` (loss summed over names, plus half
    /// the squared weights); the one with the lowest validation log-loss is kept. C 1 had the
    /// highest validation log-loss in the leave-out fold it was tried in (`short`).
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    pub tfidf_c: Vec<f64>,
    /// L-BFGS iterations for each C (each starts from the previous C's weights).
    #[arg(long, default_value_t = 80)]
    pub tfidf_iterations: u64,
}

/// Names as rows of a sparse matrix: each row's columns and values.
struct Rows {
    offsets: Vec<usize>,
    columns: Vec<u32>,
    values: Vec<f32>,
}

impl Rows {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let span = self.offsets[i]..self.offsets[i + 1];
        (&self.columns[span.clone()], &self.values[span])
    }
}

/// A fitted TF-IDF logistic regression.
pub struct TfidfModel {
    bits: u32,
    /// Inverse document frequency of each column (n-gram buckets, then word buckets).
    idf: Vec<f32>,
    /// The column weights, then the bias.
    weights: Vec<f64>,
    words: Option<Lexicon>,
    /// The C validation chose.
    pub c: f64,
}

impl TfidfModel {
    /// Fits on `train` (every benign name and at most `family_cap` names per DGA family, drawn
    /// once), choosing C by log-loss on `val`.
    pub fn fit(
        train: &[Example],
        val: &[Example],
        args: &TfidfArgs,
        words: Option<&Lexicon>,
        family_cap: usize,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let kept: Vec<&Example> = crate::wide::capped(train, family_cap, &mut rng)
            .into_iter()
            .map(|i| &train[i])
            .collect();
        let columns =
            (1usize << args.tfidf_bits) + 1 + if words.is_some() { WORD_BUCKETS } else { 0 };
        let mut model = Self {
            bits: args.tfidf_bits,
            idf: vec![1.0; columns],
            weights: vec![0.0; columns + 1],
            words: words.cloned(),
            c: 0.0,
        };
        let counts = model.counts(&kept);
        // Smoothed as scikit-learn smooths it: as if one more name held every n-gram.
        let mut df = vec![0u32; columns];
        for &column in &counts.columns {
            df[column as usize] += 1;
        }
        let n = counts.len() as f64;
        model.idf = df
            .iter()
            .map(|&d| (((1.0 + n) / (1.0 + d as f64)).ln() + 1.0) as f32)
            .collect();
        let x = model.weigh(counts);
        let y: Vec<bool> = kept.iter().map(|e| e.is_dga).collect();
        let val_refs: Vec<&Example> = val.iter().collect();
        let x_val = model.weigh(model.counts(&val_refs));
        let y_val: Vec<bool> = val.iter().map(|e| e.is_dga).collect();
        let mut cs = args.tfidf_c.clone();
        cs.sort_by(f64::total_cmp);
        let mut best: Option<(f64, f64, Vec<f64>)> = None;
        let mut start = model.weights.clone();
        for c in cs {
            let problem = Problem {
                x: &x,
                y: &y,
                lambda: 1.0 / (c * n),
            };
            let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10);
            let solved = Executor::new(problem, solver)
                .configure(|state| state.param(start.clone()).max_iters(args.tfidf_iterations))
                .run();
            let weights = match solved {
                Ok(result) => match result.state.best_param {
                    Some(weights) => weights,
                    None => continue,
                },
                Err(error) => {
                    eprintln!("TF-IDF regression, C {c}: L-BFGS stopped: {error}");
                    continue;
                }
            };
            let val_loss =
                loss(&x_val, &y_val, 0..x_val.len(), &weights) / x_val.len().max(1) as f64;
            eprintln!("TF-IDF regression, C {c}: validation log-loss {val_loss:.4}");
            start.clone_from(&weights);
            if best.as_ref().is_none_or(|(l, _, _)| val_loss < *l) {
                best = Some((val_loss, c, weights));
            }
        }
        if let Some((_, c, weights)) = best {
            model.c = c;
            model.weights = weights;
        }
        model
    }

    /// DGA log-odds of each example.
    pub fn score(&self, examples: &[Example]) -> Vec<f32> {
        let refs: Vec<&Example> = examples.iter().collect();
        let x = self.weigh(self.counts(&refs));
        (0..x.len())
            .map(|i| logit(x.row(i), &self.weights) as f32)
            .collect()
    }

    /// Each name's columns (n-gram buckets of orders 1 to 5, then its word features) with how
    /// often each occurs.
    fn counts(&self, examples: &[&Example]) -> Rows {
        let word_offset = (1u32 << self.bits) + 1;
        let per_name: Vec<Vec<(u32, f32)>> =
            model_core::parallel::map_chunks(examples, 4096, |chunk| {
                chunk
                    .iter()
                    .map(|e| {
                        let mut ids: Vec<u32> = (0..=e.tokens.len())
                            .flat_map(|j| hashed_ngrams::<ORDERS>(&e.tokens, j, self.bits))
                            .filter(|&id| id != 0)
                            .collect();
                        if let Some(lexicon) = &self.words {
                            ids.extend(lexicon.features(&e.key).map(|b| word_offset + b));
                        }
                        ids.sort_unstable();
                        let mut counted: Vec<(u32, f32)> = Vec::with_capacity(ids.len());
                        for id in ids {
                            match counted.last_mut() {
                                Some((last, count)) if *last == id => *count += 1.0,
                                _ => counted.push((id, 1.0)),
                            }
                        }
                        counted
                    })
                    .collect()
            });
        let mut rows = Rows {
            offsets: vec![0],
            columns: Vec::new(),
            values: Vec::new(),
        };
        for name in per_name {
            for (column, count) in name {
                rows.columns.push(column);
                rows.values.push(count);
            }
            rows.offsets.push(rows.columns.len());
        }
        rows
    }

    /// Counts to sublinear TF-IDF, each row scaled to unit length.
    fn weigh(&self, mut rows: Rows) -> Rows {
        for i in 0..rows.len() {
            let span = rows.offsets[i]..rows.offsets[i + 1];
            let (columns, values) = (&rows.columns[span.clone()], &mut rows.values[span]);
            for (value, &column) in values.iter_mut().zip(columns) {
                *value = (1.0 + value.ln()) * self.idf[column as usize];
            }
            let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                values.iter_mut().for_each(|v| *v /= norm);
            }
        }
        rows
    }
}

/// A row's log-odds: the weighted sum of its values, plus the bias (the last weight).
fn logit((columns, values): (&[u32], &[f32]), weights: &[f64]) -> f64 {
    let bias = weights[weights.len() - 1];
    bias + columns
        .iter()
        .zip(values)
        .map(|(&c, &v)| weights[c as usize] * f64::from(v))
        .sum::<f64>()
}

/// Summed log-loss of the rows in `range`, whose labels are `y`.
fn loss(x: &Rows, y: &[bool], range: std::ops::Range<usize>, weights: &[f64]) -> f64 {
    range
        .map(|i| softplus(if y[i] { -1.0 } else { 1.0 } * logit(x.row(i), weights)))
        .sum()
}

/// ln(1 + e^z), without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Mean logistic loss plus `lambda / 2` times the squared weights (not the bias): scikit-learn's
/// objective divided by C times the number of names, which leaves its minimum where it was.
struct Problem<'a> {
    x: &'a Rows,
    y: &'a [bool],
    lambda: f64,
}

impl Problem<'_> {
    /// `f` of the rows split into one range per core, each on its own thread.
    fn per_core<T: Send>(&self, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
        let n = self.x.len();
        let parts = model_core::parallel::cores().min(n.max(1));
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parts)
                .map(|p| {
                    let f = &f;
                    scope.spawn(move || f(p * n / parts..(p + 1) * n / parts))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a worker thread panicked"))
                .collect()
        })
    }

    fn penalty(&self, weights: &[f64]) -> f64 {
        let w = &weights[..weights.len() - 1];
        0.5 * self.lambda * w.iter().map(|v| v * v).sum::<f64>()
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, weights: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let partial = self.per_core(|range| loss(self.x, self.y, range, weights));
        Ok(partial.iter().sum::<f64>() / self.x.len() as f64 + self.penalty(weights))
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, weights: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let partial = self.per_core(|range| {
            let mut grad = vec![0.0; weights.len()];
            let bias = weights.len() - 1;
            for i in range {
                let row = self.x.row(i);
                let p = 1.0 / (1.0 + (-logit(row, weights)).exp());
                let g = p - f64::from(u8::from(self.y[i]));
                for (&c, &v) in row.0.iter().zip(row.1) {
                    grad[c as usize] += g * f64::from(v);
                }
                grad[bias] += g;
            }
            grad
        });
        let n = self.x.len() as f64;
        let bias = weights.len() - 1;
        let mut grad = vec![0.0; weights.len()];
        for part in partial {
            grad.iter_mut().zip(part).for_each(|(g, p)| *g += p / n);
        }
        for (g, w) in grad[..bias].iter_mut().zip(&weights[..bias]) {
            *g += self.lambda * w;
        }
        Ok(grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tests::fixture;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = Rows {
            offsets: vec![0, 2, 3, 5],
            columns: vec![0, 2, 1, 0, 1],
            values: vec![0.6, 0.8, 1.0, 0.8, 0.6],
        };
        let y = [true, false, true];
        let problem = Problem {
            x: &x,
            y: &y,
            lambda: 0.1,
        };
        let weights = vec![0.3, -0.2, 0.5, 0.1];
        let grad = problem.gradient(&weights).unwrap();
        for k in 0..weights.len() {
            let (mut up, mut down) = (weights.clone(), weights.clone());
            up[k] += 1e-6;
            down[k] -= 1e-6;
            let numeric = (problem.cost(&up).unwrap() - problem.cost(&down).unwrap()) / 2e-6;
            assert!(
                (numeric - grad[k]).abs() < 1e-6,
                "weight {k}: {numeric} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn fitted_regression_separates_the_fixture() {
        let (train, val) = (fixture(4000, 1), fixture(400, 2));
        let args = TfidfArgs {
            tfidf_bits: 16,
            tfidf_c: vec![1.0, 10.0],
            tfidf_iterations: 50,
        };
        let model = TfidfModel::fit(&train, &val, &args, None, 15_000, 7);
        let report = crate::metrics::evaluate_examples(&val, &model.score(&val));
        assert!(report.roc_auc > 0.95, "ROC-AUC {}", report.roc_auc);
        assert!(args.tfidf_c.contains(&model.c));
    }
}
