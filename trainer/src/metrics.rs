//! Detection metrics: threshold metrics, ROC and PR curves, TPR at fixed false-positive rates,
//! recall per DGA family and false-positive rate per benign source.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::split::Example;

/// One scored, labelled example.
pub struct Scored<'a> {
    /// DGA log-odds: ranks examples even where the probability rounds to 1.
    pub logit: f32,
    pub is_dga: bool,
    pub family: &'a str,
    pub source: &'a str,
}

pub use model_core::card::{FamilyRow, Report, SourceRow};

/// The decision threshold for `f1`, `accuracy` and the confusion matrix: log-odds 0, which is
/// `p_dga` 0.5.
pub const THRESHOLD: f32 = 0.0;

/// Evaluates labelled examples against their log-odds, given in the same order.
pub fn evaluate_examples<'a>(
    examples: impl IntoIterator<Item = &'a Example>,
    logits: &[f32],
) -> Report {
    let scored: Vec<Scored> = examples
        .into_iter()
        .zip(logits)
        .map(|(e, &logit)| Scored {
            logit,
            is_dga: e.is_dga,
            family: &e.family,
            source: &e.source,
        })
        .collect();
    evaluate(&scored)
}

pub fn evaluate(scored: &[Scored]) -> Report {
    let n_dga = scored.iter().filter(|s| s.is_dga).count();
    let n_legit = scored.len() - n_dga;
    let mut confusion = [[0usize; 2]; 2];
    for s in scored {
        confusion[s.is_dga as usize][(s.logit >= THRESHOLD) as usize] += 1;
    }
    let [[tn, fp], [fn_, tp]] = confusion;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };

    let curve = Curve::new(scored, n_dga, n_legit);
    let (tpr_1, thr_1) = curve.tpr_at_fpr(0.01);
    let (tpr_01, thr_01) = curve.tpr_at_fpr(0.001);

    let mut families: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut sources: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in scored {
        if s.is_dga {
            let row = families.entry(s.family).or_default();
            row.0 += 1;
            row.1 += (s.logit >= THRESHOLD) as usize;
            row.2 += (s.logit > thr_01) as usize;
        } else {
            let row = sources.entry(s.source).or_default();
            row.0 += 1;
            row.1 += (s.logit >= THRESHOLD) as usize;
        }
    }
    Report {
        n: scored.len(),
        n_dga,
        n_legit,
        accuracy: ratio(tp + tn, scored.len()),
        precision,
        recall,
        f1,
        roc_auc: curve.roc_auc(),
        pr_auc: curve.average_precision(),
        tpr_at_fpr_1pct: tpr_1,
        tpr_at_fpr_0_1pct: tpr_01,
        logit_threshold_at_fpr_1pct: thr_1,
        logit_threshold_at_fpr_0_1pct: thr_01,
        confusion,
        families: families
            .into_iter()
            .map(|(family, (n, hit, hit_strict))| FamilyRow {
                family: family.to_owned(),
                n,
                recall: ratio(hit, n),
                recall_at_fpr_0_1pct: ratio(hit_strict, n),
            })
            .collect(),
        sources: sources
            .into_iter()
            .map(|(source, (n, fp))| SourceRow {
                source: source.to_owned(),
                n,
                fpr: ratio(fp, n),
            })
            .collect(),
        roc: thin(
            &curve
                .points
                .iter()
                .map(|p| (p.fpr, p.tpr))
                .collect::<Vec<_>>(),
        ),
        pr: thin(
            &curve
                .points
                .iter()
                .filter(|p| p.tp > 0)
                .map(|p| (p.tpr, p.precision()))
                .collect::<Vec<_>>(),
        ),
    }
}

/// Operating points at every distinct score, from the highest threshold down.
struct Curve {
    points: Vec<Point>,
}

struct Point {
    threshold: f32,
    tp: usize,
    fp: usize,
    tpr: f64,
    fpr: f64,
}

impl Point {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
}

impl Curve {
    fn new(scored: &[Scored], n_dga: usize, n_legit: usize) -> Self {
        let mut order: Vec<(f32, bool)> = scored.iter().map(|s| (s.logit, s.is_dga)).collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (pos, neg) = (n_dga.max(1) as f64, n_legit.max(1) as f64);
        let mut points = vec![Point {
            threshold: f32::INFINITY,
            tp: 0,
            fp: 0,
            tpr: 0.0,
            fpr: 0.0,
        }];
        let (mut tp, mut fp) = (0, 0);
        for (i, &(score, is_dga)) in order.iter().enumerate() {
            if is_dga {
                tp += 1
            } else {
                fp += 1
            }
            let last_of_score = order.get(i + 1).is_none_or(|next| next.0 != score);
            if last_of_score {
                points.push(Point {
                    threshold: score,
                    tp,
                    fp,
                    tpr: tp as f64 / pos,
                    fpr: fp as f64 / neg,
                });
            }
        }
        Self { points }
    }

    /// Best TPR with FPR at most `max_fpr`, and the threshold (flag when `p_dga > threshold`
    /// scaled to the next point) that achieves it.
    fn tpr_at_fpr(&self, max_fpr: f64) -> (f64, f32) {
        let mut best = (0.0, f32::INFINITY);
        for (i, p) in self.points.iter().enumerate() {
            if p.fpr > max_fpr {
                break;
            }
            // Flagging scores >= p.threshold is the same as > the next point's threshold.
            let next = self
                .points
                .get(i + 1)
                .map_or(f32::NEG_INFINITY, |n| n.threshold);
            best = (p.tpr, next);
        }
        best
    }

    fn roc_auc(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum()
    }

    fn average_precision(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1].tpr - w[0].tpr) * w[1].precision())
            .sum()
    }
}

/// Keeps at most ~2,000 points of a curve, enough for a smooth plot.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let step = (points.len() / 2000).max(1);
    let mut out: Vec<_> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

/// The report as a plain-text table.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let _ = writeln!(
        s,
        "examples      {} ({} dga, {} legit)",
        report.n, report.n_dga, report.n_legit
    );
    let _ = writeln!(s, "accuracy      {}", pct(report.accuracy));
    let _ = writeln!(s, "precision     {}", pct(report.precision));
    let _ = writeln!(s, "recall        {}", pct(report.recall));
    let _ = writeln!(s, "F1            {:.4}", report.f1);
    let _ = writeln!(s, "ROC-AUC       {:.5}", report.roc_auc);
    let _ = writeln!(s, "PR-AUC        {:.5}", report.pr_auc);
    let _ = writeln!(
        s,
        "TPR @ FPR 1%   {}  (log-odds threshold {:.2})",
        pct(report.tpr_at_fpr_1pct),
        report.logit_threshold_at_fpr_1pct
    );
    let _ = writeln!(
        s,
        "TPR @ FPR 0.1% {}  (log-odds threshold {:.2})",
        pct(report.tpr_at_fpr_0_1pct),
        report.logit_threshold_at_fpr_0_1pct
    );
    let [[tn, fp], [fn_, tp]] = report.confusion;
    let _ = writeln!(
        s,
        "\nconfusion at p_dga >= 0.5   predicted legit  predicted dga"
    );
    let _ = writeln!(s, "  actual legit          {tn:>15}  {fp:>13}");
    let _ = writeln!(s, "  actual dga            {fn_:>15}  {tp:>13}");
    let _ = writeln!(
        s,
        "\n{:<24} {:>7} {:>9} {:>16}",
        "family", "n", "recall", "recall@FPR0.1%"
    );
    for f in &report.families {
        let _ = writeln!(
            s,
            "{:<24} {:>7} {:>9} {:>16}",
            f.family,
            f.n,
            pct(f.recall),
            pct(f.recall_at_fpr_0_1pct)
        );
    }
    let _ = writeln!(s, "\n{:<48} {:>7} {:>8}", "benign source", "n", "FPR");
    for r in &report.sources {
        let _ = writeln!(s, "{:<48} {:>7} {:>8}", r.source, r.n, pct(r.fpr));
    }
    s
}

/// Writes `roc.svg` (log-scaled FPR, where the operating points live) and `pr.svg`.
pub fn plot_curves(report: &Report, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let roc_path = dir.join("roc.svg");
    let pr_path = dir.join("pr.svg");
    let floor = 1e-5;
    let roc: Vec<(f64, f64)> = report.roc.iter().map(|&(f, t)| (f.max(floor), t)).collect();
    let log_fpr: Vec<(f64, f64)> = roc.iter().map(|&(f, t)| (f.log10(), t)).collect();
    draw(
        &roc_path,
        "ROC",
        "log10 false-positive rate",
        "true-positive rate",
        floor.log10()..0.0,
        &log_fpr,
    )?;
    draw(
        &pr_path,
        "Precision-recall",
        "recall",
        "precision",
        0.0..1.0,
        &report.pr,
    )?;
    Ok(())
}

fn draw(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    x_range: std::ops::Range<f64>,
    points: &[(f64, f64)],
) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    let plot = || -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()?;
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))?;
        root.present()?;
        Ok(())
    };
    plot().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An example scored with probability `p`.
    fn s(p: f32, is_dga: bool) -> Scored<'static> {
        Scored {
            logit: (p / (1.0 - p)).ln(),
            is_dga,
            family: if is_dga { "f" } else { "legit" },
            source: "src",
        }
    }

    #[test]
    fn perfect_separation() {
        let data: Vec<_> = (0..100)
            .map(|i| s(if i < 50 { 0.1 } else { 0.9 }, i >= 50))
            .collect();
        let r = evaluate(&data);
        assert_eq!(
            (r.f1, r.roc_auc, r.pr_auc, r.tpr_at_fpr_0_1pct),
            (1.0, 1.0, 1.0, 1.0)
        );
        assert_eq!(r.confusion, [[50, 0], [0, 50]]);
    }

    #[test]
    fn hand_computed_example() {
        // dga: 0.9 0.8 0.4; legit: 0.7 0.3 0.2 0.1
        let data = vec![
            s(0.9, true),
            s(0.8, true),
            s(0.4, true),
            s(0.7, false),
            s(0.3, false),
            s(0.2, false),
            s(0.1, false),
        ];
        let r = evaluate(&data);
        assert_eq!(r.confusion, [[3, 1], [1, 2]]);
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-9);
        // Pairs ranked correctly: 11 of 12.
        assert!((r.roc_auc - 11.0 / 12.0).abs() < 1e-9, "{}", r.roc_auc);
        // At zero false positives two of three DGA names are caught.
        assert!((r.tpr_at_fpr_0_1pct - 2.0 / 3.0).abs() < 1e-9);
        // AP: 1/3*1 + 1/3*1 + 1/3*(3/4).
        assert!(
            (r.pr_auc - (1.0 + 1.0 + 0.75) / 3.0).abs() < 1e-9,
            "{}",
            r.pr_auc
        );
        assert!((r.families[0].recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.sources[0].fpr - 0.25).abs() < 1e-9);
    }
}
