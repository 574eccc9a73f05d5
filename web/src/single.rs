//! The single-domain tab: scored as the visitor types, with the name's features and a
//! per-character heatmap of how much each character moves `p_dga`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use model_core::explain::Anomaly;
use model_core::{DomainError, Family, Scored, UNKNOWN_FAMILY};

use crate::app::{ModelState, Shared};
use crate::assets;
use crate::engine::{self, Backend, Explanation};

/// The latest answer for the text in the box.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    input: String,
    result: Result<Scored, DomainError>,
    explanation: Option<Result<Explanation, String>>,
    backend: Backend,
    /// Time from the keystroke to the verdict, without the explanation.
    millis: f64,
}

#[component]
pub fn Single() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let (text, set_text) = signal(assets::url_flag("q").unwrap_or_default());
    let answer = RwSignal::new(None::<Answer>);
    // Each keystroke starts a scoring; only the newest may write its answer.
    let generation = StoredValue::new(0u64);
    let first_verdict = StoredValue::new(false);

    Effect::new(move |_| {
        let input = text.get();
        if shared.model.get() != ModelState::Ready {
            return;
        }
        let _ = shared.choice.get();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        spawn_local(async move {
            let Some(engine) = engine::engine() else {
                return;
            };
            if input.trim().is_empty() {
                answer.set(None);
                return;
            }
            let backend = shared.backend_for(false);
            let started = assets::now_ms();
            let verdict = match engine.score(&[input.as_str()], backend, &|_| {}).await {
                Ok(mut v) => v.remove(0),
                Err(e) => model_core::Verdict {
                    input: input.clone(),
                    result: Err(DomainError::Unparsable(e)),
                },
            };
            let millis = assets::now_ms() - started;
            if generation.get_value() != mine {
                return;
            }
            let result = verdict.result;
            answer.set(Some(Answer {
                input: input.clone(),
                result: result.clone(),
                explanation: None,
                backend,
                millis,
            }));
            if !first_verdict.get_value() {
                first_verdict.set_value(true);
                assets::mark("dga-first-verdict");
            }
            if let Ok(scored) = result {
                // An `Arc`, not a read guard: the card may arrive while this awaits.
                let card = shared.card.get_untracked();
                let benign = card.as_ref().map(|c| &c.benign_trigrams);
                let explanation = engine.explain(&scored.domain, benign, backend).await;
                if generation.get_value() == mine {
                    answer.update(|a| {
                        if let Some(a) = a {
                            a.explanation = Some(explanation)
                        }
                    });
                }
            }
        });
    });

    view! {
        <label for="single-input">"Domain, URL or e-mail address"</label>
        <input
            id="single-input"
            type="text"
            autocomplete="off"
            spellcheck="false"
            placeholder="xjkd8f2h.com"
            prop:value=text
            on:input=move |ev| set_text.set(event_target_value(&ev))
        />
        // The input the shown answer belongs to, so tests and scripts can wait for it.
        <div
            id="single-result"
            aria-live="polite"
            data-input=move || answer.get().map(|a| a.input).unwrap_or_default()
            data-state=move || match answer.get() {
                Some(Answer { explanation: Some(_), .. }) => "explained",
                Some(_) => "scored",
                None => "empty",
            }
        >
            {move || answer.get().map(|a| view! { <AnswerView answer=a/> })}
        </div>
    }
}

/// One answer: the verdict, then why.
#[component]
fn AnswerView(
    /// The verdict and, once computed, its explanation.
    answer: Answer,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let timing = format!(
        "scored on {} in {:.1} ms",
        answer.backend.label(),
        answer.millis
    );
    match answer.result {
        Err(error) => view! {
            <p class="error" id="single-error">
                "Not scored: " {error.to_string()} " (input: " <code>{answer.input}</code> ")"
            </p>
        }
        .into_any(),
        Ok(scored) => {
            let p = scored.p_dga;
            // Stored so the closure is `Copy`: it is read by the class and by the text.
            let judged = StoredValue::new(scored.clone());
            let risk = move || {
                let allow = shared.allow.get();
                let thresholds = shared.thresholds.get();
                judged.with_value(|s| thresholds.risk_with(s, &allow).as_str())
            };
            let domain = scored.domain.clone();
            let allowed_by = move || {
                let allow = shared.allow.get();
                allow.entry_for(&domain).map(|entry| {
                    view! {
                        <p id="single-allowed">
                            "On the allow-list (" <code>{entry.to_owned()}</code>
                            "): reported, never alerted; its score is kept for reference."
                        </p>
                    }
                })
            };
            view! {
                <div class="verdict">
                    <p>
                        <span class=move || format!("risk risk-{}", risk()) id="single-risk">{risk}</span>
                        " p_dga " <strong id="single-p">{format!("{p:.4}")}</strong>
                        <span class="muted">" (log-odds " {format!("{:.2}", scored.logit)} ")"</span>
                    </p>
                    {allowed_by}
                    <dl>
                        <dt>"Normalised"</dt><dd id="single-domain">{scored.domain.name.clone()}</dd>
                        <dt>"Registrable domain"</dt><dd>{scored.domain.registrable_domain.clone()}</dd>
                        <dt>"Public suffix"</dt>
                        <dd id="single-suffix">
                            {scored.domain.suffix.clone()}
                            {(!scored.domain.suffix_known).then(|| view! {
                                <span class="muted">" (not on the public-suffix list: an alternative or private root, read as the top-level domain)"</span>
                            })}
                        </dd>
                        <dt>"Anomaly"</dt>
                        <dd id="single-anomaly">{anomaly_text(scored.anomaly)}</dd>
                        {scored.family.as_ref().map(|family| view! {
                            <dt>"Family"</dt>
                            <dd id="single-family">{family_text(family)}</dd>
                        })}
                    </dl>
                    <p class="muted" id="single-timing">{timing}</p>
                </div>
                {answer.explanation.map(|e| match e {
                    Ok(explanation) => view! { <ExplanationView explanation/> }.into_any(),
                    Err(e) => view! { <p class="error">"No explanation: " {e}</p> }.into_any(),
                })}
            }
            .into_any()
        }
    }
}

/// The family head's answer with its two runners-up, e.g. `banjori 97.1% (then: pykspa 1.2%,
/// simda 0.4%)`; `unknown` names the closest families all the same.
fn family_text(family: &Family) -> String {
    let percent = |(name, p): &(String, f32)| format!("{name} {:.1}%", 100.0 * p);
    let rest: Vec<String> = family.top.iter().skip(1).map(percent).collect();
    if family.name == UNKNOWN_FAMILY {
        let all: Vec<String> = family.top.iter().map(percent).collect();
        format!(
            "unknown: no family the model knows fits well (closest: {})",
            all.join(", ")
        )
    } else {
        format!(
            "{} {:.1}% (then: {})",
            family.name,
            100.0 * family.p,
            rest.join(", ")
        )
    }
}

/// The benign-only anomaly score in words: a second opinion from a model that never saw a DGA
/// name.
fn anomaly_text(anomaly: Option<Anomaly>) -> String {
    match anomaly {
        Some(a) if a.unusual => format!(
            "{:.2} bits: unusual for a benign name (above the line 1% of benign names cross)",
            a.bits
        ),
        Some(a) => format!("{:.2} bits: within what benign names look like", a.bits),
        None => "not measured (name too short, or these weights carry no anomaly model)".into(),
    }
}

#[component]
fn ExplanationView(
    /// Features and per-character influence of the scored name.
    explanation: Explanation,
) -> impl IntoView {
    let f = explanation.features;
    let shared = expect_context::<Shared>();
    let scale = shared
        .card
        .with_untracked(|c| {
            c.as_ref()
                .map(|c| (c.rarity_median_benign, c.rarity_median_dga))
        })
        .map(|(b, d)| format!(" (median on the test split: benign {b:.1}, DGA {d:.1})"))
        .unwrap_or_default();
    let strongest = explanation
        .characters
        .iter()
        .map(|(_, v)| v.abs())
        .fold(0.05, f32::max);
    let cells = explanation
        .characters
        .into_iter()
        .map(|(c, v)| {
            let alpha = (v.abs() / strongest).min(1.0) * 0.85;
            let colour = if v >= 0.0 { format!("rgba(200,30,30,{alpha:.2})") } else { format!("rgba(30,90,220,{alpha:.2})") };
            let title = format!("{c}: {v:+.3} on p_dga");
            view! { <span class="heat" title=title style:background-color=colour>{c.to_string()}</span> }
        })
        .collect_view();
    let words = explanation.words.map(|w| {
        view! { <tr><th>"Words"</th><td id="words">{w.describe()}</td></tr> }
    });
    let rarity = f
        .trigram_rarity_bits
        .map(|b| format!("{b:.1} bits per trigram"))
        .unwrap_or_else(|| "n/a".into());
    view! {
        <h3>"Why"</h3>
        <p class="muted">"Each character coloured by how much p_dga drops when it is removed: red pushes towards DGA, blue towards benign."</p>
        <p class="heatmap" id="heatmap">{cells}</p>
        <table class="features">
            <tr><th>"Length"</th><td>{f.length}</td></tr>
            <tr><th>"Entropy"</th><td>{format!("{:.2} bits/char", f.entropy)}</td></tr>
            <tr><th>"Vowel ratio"</th><td>{format!("{:.2}", f.vowel_ratio)}</td></tr>
            <tr><th>"Digit ratio"</th><td>{format!("{:.2}", f.digit_ratio)}</td></tr>
            <tr><th>"Longest consonant run"</th><td>{f.longest_consonant_run}</td></tr>
            <tr>
                <th>"Trigram rarity among benign names"</th>
                <td>{rarity} <span class="muted">{scale}</span></td>
            </tr>
            {words}
        </table>
    }
}
