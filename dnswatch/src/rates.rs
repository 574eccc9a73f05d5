//! How often each kind of lookup happens on a benign network, learned online, and how much a
//! lookup of each kind says about a host.
//!
//! Each distinct registrable domain a client looks up in a window falls in one [`Category`]: how
//! generated it looks (the model's `p_dga` band), whether its lookup failed, and whether it is a
//! dictionary name sharing words with the host's other failed names. Under the benign
//! hypothesis a client's categories follow its base rates `b`; under the infected one a share
//! `π` of its lookups come from a generator, whose categories follow `d`. One lookup of
//! category `c` then weighs `ln((1 - π) + π d_c / b_c)`: positive for what generators make and
//! benign clients rarely do, slightly negative for ordinary lookups. A window's weights add up
//! to a log-likelihood ratio, so a busy client's thousands of ordinary names count against the
//! few odd ones it is bound to have, and the ratio's threshold is a false-alarm rate (Markov's
//! inequality: under the benign rates, `P(ratio >= e^h) <= e^-h`).
//!
//! `b` is learned per network and per client from lookups that aged out of the window, as
//! exponentially decayed counts shrunk towards a prior (bounded memory: one array a client).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bands of `p_dga`: below [`model_core::DECISION_P`], up to [`HIGH_P`], and above.
pub const HIGH_P: f32 = 0.9;

/// What a lookup was: one of [`CATEGORIES`] kinds, the index into every rate array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    LowAnswered,
    LowFailed,
    LowUnknown,
    MidAnswered,
    MidFailed,
    MidUnknown,
    HighAnswered,
    HighFailed,
    HighUnknown,
    /// A failed dictionary name sharing a word with another of the host's failed names (names
    /// whose outcome the log does not say never link: benign browsing shares words too).
    LinkedFailed,
}

pub const CATEGORIES: usize = 10;

/// How a lookup ended, as far as the log says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    Failed,
    Unknown,
}

impl Category {
    pub const ALL: [Category; CATEGORIES] = [
        Category::LowAnswered,
        Category::LowFailed,
        Category::LowUnknown,
        Category::MidAnswered,
        Category::MidFailed,
        Category::MidUnknown,
        Category::HighAnswered,
        Category::HighFailed,
        Category::HighUnknown,
        Category::LinkedFailed,
    ];

    /// The category of a lookup: `linked` for failed dictionary names sharing words with other
    /// failed names of the host (the word graph reads failures only).
    pub fn of(p_dga: f32, outcome: Outcome, linked: bool) -> Self {
        use Category::*;
        if outcome == Outcome::Failed && linked {
            return LinkedFailed;
        }
        let band = if p_dga >= HIGH_P {
            2
        } else if p_dga >= model_core::DECISION_P {
            1
        } else {
            0
        };
        let outcome = match outcome {
            Outcome::Answered => 0,
            Outcome::Failed => 1,
            Outcome::Unknown => 2,
        };
        Self::ALL[band * 3 + outcome]
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the log said how the lookup ended: rates are shares within the known or the
    /// unknown group, since whether a log carries answer codes says nothing about a host.
    fn known(self) -> bool {
        !matches!(
            self,
            Category::LowUnknown | Category::MidUnknown | Category::HighUnknown
        )
    }

    /// Ordinary lookups: kept as counts only, never as named evidence.
    pub fn ordinary(self) -> bool {
        matches!(
            self,
            Category::LowAnswered | Category::LowFailed | Category::LowUnknown
        )
    }
}

/// Category shares of a generator's lookups (`d`) and, as the prior of the learned rates, of a
/// benign client's (`b`), each a distribution within the known and within the unknown group.
/// Generators: about half of their names score above 0.9 on families the model never saw
/// (docs/results.md), nine in ten lookups fail (their domains are mostly unregistered), and
/// word-list generators reuse a small dictionary. Benign clients: a few percent of names above
/// 0.5 and about one lookup in twenty failing; both are learned from the network within hours.
fn shares(generated: bool) -> [f64; CATEGORIES] {
    let (bands, failed, linked) = if generated {
        ([0.25, 0.20, 0.55], 0.9, 0.2)
    } else {
        ([0.95, 0.03, 0.02], 0.05, 0.01)
    };
    let mut p = [0.0; CATEGORIES];
    for (band, share) in bands.iter().enumerate() {
        p[band * 3] = share * (1.0 - failed);
        p[band * 3 + 1] = share * failed * (1.0 - linked);
        p[band * 3 + 2] = *share;
    }
    p[Category::LinkedFailed.index()] = failed * linked;
    normalise(&mut p);
    p
}

/// Scales each group to sum to one.
fn normalise(p: &mut [f64; CATEGORIES]) {
    for known in [true, false] {
        let total: f64 = Category::ALL
            .iter()
            .filter(|c| c.known() == known)
            .map(|c| p[c.index()])
            .sum();
        if total > 0.0 {
            for c in Category::ALL.iter().filter(|c| c.known() == known) {
                p[c.index()] /= total;
            }
        }
    }
}

/// Exponentially decayed counts of categories, in log time.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    n: [f64; CATEGORIES],
    at: f64,
}

impl Counts {
    /// Adds one lookup of `category` at log time `now`, older counts halving every
    /// `half_life_s`.
    pub fn add(&mut self, category: Category, now: f64, half_life_s: f64) {
        if now > self.at {
            let factor = 0.5f64.powf((now - self.at) / half_life_s);
            self.n.iter_mut().for_each(|n| *n *= factor);
            self.at = now;
        }
        self.n[category.index()] += 1.0;
    }

    /// Shares of each category within its group, the counts shrunk towards `prior` as if it
    /// had been seen `strength` times.
    pub fn shares(&self, prior: &[f64; CATEGORIES], strength: f64) -> [f64; CATEGORIES] {
        shrunk_shares(&self.n, prior, strength)
    }
}

/// Shares of each category within its group (known outcome or not) of the counts `n`, shrunk
/// towards `prior` as if it had been seen `strength` times.
fn shrunk_shares(
    n: &[f64; CATEGORIES],
    prior: &[f64; CATEGORIES],
    strength: f64,
) -> [f64; CATEGORIES] {
    let mut p = [0.0; CATEGORIES];
    for known in [true, false] {
        let group = Category::ALL.iter().filter(|c| c.known() == known);
        let total: f64 = group.clone().map(|c| n[c.index()]).sum();
        for c in group {
            let i = c.index();
            p[i] = (n[i] + strength * prior[i]) / (total + strength);
        }
    }
    p
}

/// Lookups of one stretch of log time ([`History::bucket_s`]), by category.
pub type Bucket = [u32; CATEGORIES];

/// Half-lives after which a stretch of the network's history no longer counts (2^-16 of its
/// weight is left).
const HISTORY_HALF_LIVES: f64 = 16.0;

/// The network's history: lookups that left a window while their host looked benign, counted
/// by stretch of log time. A host swept in one stretch is weighed with the stretches before it
/// only, each decayed by its age. So the rates a host is weighed with do not depend on the
/// order in which hosts are swept within a stretch, and a job that judges each client apart
/// (`crate::split`) can be handed the whole network's history up front and reach exactly the
/// rates a single pass over the log reaches.
#[derive(Debug, Clone)]
pub struct History {
    pub bucket_s: f64,
    half_life_s: f64,
    buckets: BTreeMap<i64, Bucket>,
    /// The counts the last stretch asked for was weighed with, while no lookup arrives late
    /// into an earlier stretch.
    cached: Option<(i64, [f64; CATEGORIES])>,
}

impl History {
    pub fn new(bucket_s: f64, half_life_s: f64) -> Self {
        Self {
            bucket_s: bucket_s.max(1.0),
            half_life_s,
            buckets: BTreeMap::new(),
            cached: None,
        }
    }

    /// The history of a whole log, made elsewhere (for a job that judges clients apart).
    pub fn with_buckets(mut self, buckets: BTreeMap<i64, Bucket>) -> Self {
        self.buckets = buckets;
        self.cached = None;
        self
    }

    /// The stretch that log time `time` falls in.
    pub fn bucket(&self, time: f64) -> i64 {
        (time / self.bucket_s).floor() as i64
    }

    /// One benign lookup of `category` leaving a window at log time `now`.
    pub fn add(&mut self, category: Category, now: f64) {
        let bucket = self.bucket(now);
        self.buckets.entry(bucket).or_default()[category.index()] += 1;
        if self.cached.is_some_and(|(at, _)| bucket < at) {
            self.cached = None;
        }
    }

    /// The decayed counts of the stretches before the one `now` falls in, shrunk into rates
    /// towards `prior` with `strength`.
    pub fn shares(
        &mut self,
        now: f64,
        prior: &[f64; CATEGORIES],
        strength: f64,
    ) -> [f64; CATEGORIES] {
        let bucket = self.bucket(now);
        let n = match self.cached {
            Some((at, n)) if at == bucket => n,
            _ => {
                let n = self.counts_before(bucket);
                self.cached = Some((bucket, n));
                n
            }
        };
        shrunk_shares(&n, prior, strength)
    }

    fn counts_before(&mut self, bucket: i64) -> [f64; CATEGORIES] {
        let horizon = (HISTORY_HALF_LIVES * self.half_life_s / self.bucket_s).ceil() as i64;
        // Stretches past the horizon no longer count for anyone (a log's time only moves on).
        let kept = self.buckets.split_off(&(bucket - horizon));
        self.buckets = kept;
        let mut n = [0.0; CATEGORIES];
        for (at, counts) in self.buckets.range(..bucket) {
            let factor = 0.5f64.powf((bucket - at) as f64 * self.bucket_s / self.half_life_s);
            for (total, count) in n.iter_mut().zip(counts) {
                *total += f64::from(*count) * factor;
            }
        }
        n
    }
}

/// The weights of lookups: generator shares, the mixture share, and the benign prior.
#[derive(Debug, Clone)]
pub struct Weigher {
    generated: [f64; CATEGORIES],
    pub benign_prior: [f64; CATEGORIES],
    mixture: f64,
}

impl Weigher {
    pub fn new(mixture: f64) -> Self {
        Self {
            generated: shares(true),
            benign_prior: shares(false),
            mixture: mixture.clamp(1e-6, 1.0 - 1e-6),
        }
    }

    /// Each category's weight against benign rates `benign`.
    pub fn weights(&self, benign: &[f64; CATEGORIES]) -> [f32; CATEGORIES] {
        let mut w = [0.0f32; CATEGORIES];
        for i in 0..CATEGORIES {
            let b = benign[i].max(1e-9);
            w[i] = ((1.0 - self.mixture) + self.mixture * self.generated[i] / b).ln() as f32;
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lookups_weigh_for_and_ordinary_ones_against() {
        let weigher = Weigher::new(0.2);
        let w = weigher.weights(&weigher.benign_prior);
        assert!(w[Category::HighFailed.index()] > 4.0, "{w:?}");
        assert!(w[Category::LinkedFailed.index()] > 3.0, "{w:?}");
        assert!(w[Category::LowAnswered.index()] < 0.0, "{w:?}");
        // Under the benign rates a lookup weighs less than nothing on average (minus a
        // Kullback-Leibler divergence), so volume alone never adds up to an alert.
        let b = weigher.benign_prior;
        let mean: f64 = Category::ALL
            .iter()
            .filter(|c| c.known())
            .map(|c| b[c.index()] * f64::from(w[c.index()]))
            .sum();
        assert!(mean < 0.0, "{mean}");
    }

    #[test]
    fn counts_decay_and_shrink_towards_the_prior() {
        let prior = shares(false);
        let mut counts = Counts::default();
        let fresh = counts.shares(&prior, 100.0);
        assert!(fresh.iter().zip(&prior).all(|(a, b)| (a - b).abs() < 1e-12));
        for i in 0..1000 {
            counts.add(Category::HighAnswered, f64::from(i), 3600.0);
        }
        let learned = counts.shares(&prior, 100.0);
        assert!(learned[Category::HighAnswered.index()] > 0.8, "{learned:?}");
        let sum: f64 = Category::ALL
            .iter()
            .filter(|c| c.known())
            .map(|c| learned[c.index()])
            .sum();
        assert!((sum - 1.0).abs() < 1e-9);
        // A day later the same counts weigh a sixteen-millionth of what they did.
        counts.add(Category::LowAnswered, 1000.0 + 24.0 * 3600.0, 3600.0);
        let later = counts.shares(&prior, 100.0);
        assert!(later[Category::HighAnswered.index()] < 0.05, "{later:?}");
    }

    #[test]
    fn categories_follow_band_outcome_and_words() {
        assert_eq!(
            Category::of(0.2, Outcome::Answered, false),
            Category::LowAnswered
        );
        assert_eq!(
            Category::of(0.6, Outcome::Failed, false),
            Category::MidFailed
        );
        assert_eq!(
            Category::of(0.95, Outcome::Unknown, false),
            Category::HighUnknown
        );
        assert_eq!(
            Category::of(0.1, Outcome::Failed, true),
            Category::LinkedFailed
        );
        assert_eq!(
            Category::of(0.1, Outcome::Answered, true),
            Category::LowAnswered
        );
        assert_eq!(
            Category::of(0.1, Outcome::Unknown, true),
            Category::LowUnknown
        );
    }
}
