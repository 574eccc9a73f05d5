//! The model-card tab: what the trainer measured on its held-out test split, drawn from
//! `model/card.json`, and what runs here now.

use std::sync::Arc;

use leptos::prelude::*;
use model_core::ModelCard;

use crate::app::{ModelState, Shared};

#[component]
pub fn Card() -> impl IntoView {
    let shared = expect_context::<Shared>();
    move || {
        if shared.model.get() != ModelState::Ready {
            return view! { <p class="muted">"The model card appears once the model has loaded."</p> }.into_any();
        }
        match shared.card.get() {
            Some(card) => view! { <CardView card/> }.into_any(),
            None => view! { <p class="note">"No model card: model/card.json is missing or unreadable. Verdicts still work."</p> }.into_any(),
        }
    }
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

#[component]
fn CardView(
    /// What `trainer card` measured.
    card: Arc<ModelCard>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let card = Arc::unwrap_or_clone(card);
    let r = card.report;
    let c = card.config;
    let [[tn, fp], [fn_, tp]] = r.confusion;
    let mut families = r.families;
    families.sort_by(|a, b| a.recall.total_cmp(&b.recall));
    // The family head's accuracy beside each family's recall, when the weights carry a head.
    let named: std::collections::HashMap<String, (f64, f64)> = card
        .family
        .iter()
        .flat_map(|f| &f.families)
        .map(|row| (row.family.clone(), (row.top1, row.top3)))
        .collect();
    let named_cell = move |family: &str, pick: fn(&(f64, f64)) -> f64| {
        named
            .get(family)
            .map_or("—".to_owned(), |t| percent(pick(t)))
    };
    let groups = c.family.as_ref().and_then(|f| f.group.as_ref()).map(|g| {
        let sizes: Vec<String> = (g.named_right.iter().zip(&g.unknown_on_held_out))
            .map(|(&(n, right), &(_, declined))| {
                format!("{} of groups of {n} ({} of unseen families' declined)", percent(f64::from(right)), percent(f64::from(declined)))
            })
            .collect();
        format!(
            " An alerted host's DGA names are named together, by their pooled probabilities and how well they fit the family's own lengths, characters and suffixes: right for {}.",
            sizes.join(", ")
        )
    });
    let head = card.family.as_ref().map(|f| {
        let confused: Vec<String> = f
            .confused
            .iter()
            .take(3)
            .map(|c| format!("{} taken for {} ({})", c.family, c.taken_for, percent(c.share)))
            .collect();
        format!(
            "The family head names the generator of a DGA verdict: right first time for {} of the test split's DGA names ({} averaged over families), among its three guesses for {}. Families it never saw get `unknown` {} of the time (measured on families held out of its fit), at the price of `unknown` for {} of known ones: it names {} of known families' names, and names them right. Most confused: {}.",
            percent(f.top1_micro),
            percent(f.top1_macro),
            percent(f.top3_micro),
            percent(f.unknown_on_held_out),
            percent(f.unknown),
            percent(f.named_right),
            confused.join("; "),
        ) + groups.as_deref().unwrap_or("")
    });
    let metrics = [
        ("F1", format!("{:.4}", r.f1)),
        ("Precision", format!("{:.4}", r.precision)),
        ("Recall", format!("{:.4}", r.recall)),
        ("Accuracy", format!("{:.4}", r.accuracy)),
        ("ROC-AUC", format!("{:.4}", r.roc_auc)),
        ("PR-AUC", format!("{:.4}", r.pr_auc)),
        ("TPR at FPR 1%", percent(r.tpr_at_fpr_1pct)),
        ("TPR at FPR 0.1%", percent(r.tpr_at_fpr_0_1pct)),
    ];
    view! {
        <p>{format!("Measured on the {}: {} names ({} DGA, {} benign).", card.evaluated_on, r.n, r.n_dga, r.n_legit)}</p>
        <table id="card-metrics">
            {metrics.into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td class="num">{v}</td></tr> }).collect_view()}
        </table>
        <h3>"Model"</h3>
        <p id="card-model">{format!(
            "{} parameters; transformer encoder, {} layers, d_model {}, {} heads, FFN {}, up to {} characters{}; weights {:.0} KiB (half precision).",
            card.parameters, c.n_layers, c.d_model, c.n_heads, c.d_ff, c.tokeniser.max_len,
            if c.wide { ", plus a linear score over hashed 1- to 4-grams" } else { "" },
            card.weights_bytes as f64 / 1024.0,
        )}</p>
        <p>"Running here: CPU (wasm), always available; " {move || shared.gpu.get().describe()}</p>
        <div class="curves">
            <Curve title="ROC" x_label="false-positive rate (log scale)" y_label="true-positive rate" x_axis=Axis::Log points=r.roc/>
            <Curve title="Precision–recall" x_label="recall" y_label="precision" x_axis=Axis::Linear points=r.pr/>
        </div>
        <h3>"Confusion matrix at p_dga 0.5"</h3>
        <table id="card-confusion">
            <tr><th></th><th>"predicted benign"</th><th>"predicted DGA"</th></tr>
            <tr><th>"benign"</th><td class="num">{tn}</td><td class="num">{fp}</td></tr>
            <tr><th>"DGA"</th><td class="num">{fn_}</td><td class="num">{tp}</td></tr>
        </table>
        <h3>"Recall per DGA family (weakest first)"</h3>
        {head.map(|text| view! { <p id="card-family-head">{text}</p> })}
        <div class="scroll">
            <table id="card-families">
                <thead><tr><th>"family"</th><th>"names"</th><th>"recall at 0.5"</th><th>"recall at FPR 0.1%"</th><th>"family named"</th><th>"in top 3"</th></tr></thead>
                <tbody>{families.into_iter().map(|f| view! {
                    <tr><td>{f.family.clone()}</td><td class="num">{f.n}</td><td class="num">{percent(f.recall)}</td><td class="num">{percent(f.recall_at_fpr_0_1pct)}</td>
                    <td class="num">{named_cell(&f.family, |t| t.0)}</td><td class="num">{named_cell(&f.family, |t| t.1)}</td></tr>
                }).collect_view()}</tbody>
            </table>
        </div>
        <h3>"False-positive rate per benign source"</h3>
        <table id="card-sources">
            <thead><tr><th>"source"</th><th>"names"</th><th>"FPR at 0.5"</th></tr></thead>
            <tbody>{r.sources.into_iter().map(|s| view! {
                <tr><td>{s.source}</td><td class="num">{s.n}</td><td class="num">{percent(s.fpr)}</td></tr>
            }).collect_view()}</tbody>
        </table>
    }
}

/// Where a value lands on a curve's axis, from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Axis {
    Linear,
    /// log10 from 10^-4 to 1: the low false-positive rates a SOC runs at get most of the width.
    Log,
}

impl Axis {
    fn place(self, x: f64) -> f64 {
        match self {
            Axis::Linear => x,
            Axis::Log => (x.max(1e-4).log10() + 4.0) / 4.0,
        }
    }
}

/// A curve on the unit square as SVG.
#[component]
fn Curve(
    /// Heading, also the SVG's accessible name.
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    x_axis: Axis,
    /// `(x, y)` points from the report, both in 0..=1.
    points: Vec<(f64, f64)>,
) -> impl IntoView {
    let path: String = points
        .iter()
        .map(|&(x, y)| {
            format!(
                "{:.2},{:.2} ",
                10.0 + 180.0 * x_axis.place(x),
                190.0 - 180.0 * y
            )
        })
        .collect();
    let ticks: &[(f64, &str)] = match x_axis {
        Axis::Log => &[(1e-3, "0.1%"), (1e-2, "1%"), (1e-1, "10%")],
        Axis::Linear => &[(0.5, "0.5")],
    };
    let ticks = ticks
        .iter()
        .map(|&(x, label)| {
            let at = 10.0 + 180.0 * x_axis.place(x);
            view! {
                <line x1=at x2=at y1="10" y2="190" class="grid"></line>
                <text x=at y="199" class="tick">{label}</text>
            }
        })
        .collect_view();
    view! {
        <figure>
            <svg viewBox="0 0 200 202" role="img" aria-label=title>
                <rect x="10" y="10" width="180" height="180" class="frame"></rect>
                {ticks}
                <polyline points=path class="curve"></polyline>
            </svg>
            <figcaption>{format!("{title}: {y_label} against {x_label}")}</figcaption>
        </figure>
    }
}
