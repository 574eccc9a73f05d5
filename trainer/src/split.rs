//! Turns loaded samples into model inputs and splits them 80/10/10, stratified by label and
//! family, so that no registrable label (`google` of `google.com` and `google.de`) appears in two
//! splits, whatever part of the name the model reads.

use std::collections::{BTreeMap, HashMap};

use model_core::{Tokeniser, normalise};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::{BadRows, Sample};

/// One model input with its label and provenance.
#[derive(Debug, Clone)]
pub struct Example {
    /// What the model reads (see [`model_core::InputView`]); duplicates within a split are merged.
    pub text: String,
    /// The registrable label: the split key, identical for every view, so splits made for
    /// models that read different parts of a name are the same and comparable.
    pub key: String,
    pub tokens: Vec<u32>,
    pub is_dga: bool,
    pub family: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitName {
    Train,
    Val,
    Test,
    /// Every row of the file, for data the model never trained on.
    All,
}

#[derive(Debug, Default)]
pub struct Splits {
    pub train: Vec<Example>,
    pub val: Vec<Example>,
    pub test: Vec<Example>,
}

impl Splits {
    /// Moves every example of these DGA families from training and validation to the test split;
    /// returns how many names the families have in all.
    pub fn hold_out(&mut self, families: &[String]) -> usize {
        let held = |e: &Example| e.is_dga && families.contains(&e.family);
        for part in [&mut self.train, &mut self.val] {
            let (out, kept): (Vec<Example>, Vec<Example>) = part.drain(..).partition(held);
            *part = kept;
            self.test.extend(out);
        }
        self.test.iter().filter(|e| held(e)).count()
    }

    pub fn take(self, which: SplitName) -> Vec<Example> {
        match which {
            SplitName::Train => self.train,
            SplitName::Val => self.val,
            SplitName::Test => self.test,
            SplitName::All => [self.train, self.val, self.test].concat(),
        }
    }
}

/// Normalises and tokenises samples; names that cannot be normalised are reported, not dropped
/// silently. Later duplicates of a model input are merged into the first.
pub fn prepare(samples: Vec<Sample>, tokeniser: &Tokeniser) -> Vec<Example> {
    let mut bad = BadRows::default();
    let total = samples.len();
    let mut examples = Vec::with_capacity(total);
    for (i, sample) in samples.into_iter().enumerate() {
        match normalise(&sample.domain) {
            Ok(domain) => examples.push(Example {
                text: tokeniser.view(&domain).to_owned(),
                key: domain.registrable_label().to_owned(),
                tokens: tokeniser.encode(&domain),
                is_dga: sample.is_dga,
                family: sample.family,
                source: sample.source,
            }),
            // Data rows are numbered from 2: line 1 is the header.
            Err(e) => bad.push(i as u64 + 2, format!("{}: {e}", sample.domain)),
        }
    }
    bad.report("names could not be normalised and were", total);
    examples
}

/// The registrable labels of a set's benign names.
pub fn benign_labels(set: &[Example]) -> impl Iterator<Item = &str> {
    set.iter().filter(|e| !e.is_dga).map(|e| e.key.as_str())
}

/// Splits 80/10/10 within each (label, family) stratum with a fixed seed. A key seen in an
/// earlier stratum follows its first assignment, so no key crosses splits; keys seen with both
/// labels keep only their first label.
pub fn split(examples: Vec<Example>, seed: u64) -> Splits {
    let mut strata: BTreeMap<(bool, String), Vec<Example>> = BTreeMap::new();
    for example in examples {
        strata
            .entry((example.is_dga, example.family.clone()))
            .or_default()
            .push(example);
    }
    let mut assigned: HashMap<String, (usize, bool)> = HashMap::new();
    let mut splits = Splits::default();
    for (stratum, (_, mut members)) in strata.into_iter().enumerate() {
        members.sort_by(|a, b| (&a.key, &a.text).cmp(&(&b.key, &b.text)));
        members.shuffle(&mut StdRng::seed_from_u64(
            seed.wrapping_add(stratum as u64),
        ));
        let n = members.len();
        for (position, example) in members.into_iter().enumerate() {
            let fresh = if position * 10 < n * 8 {
                0
            } else if position * 10 < n * 9 {
                1
            } else {
                2
            };
            let (which, label) = *assigned
                .entry(example.key.clone())
                .or_insert((fresh, example.is_dga));
            if label != example.is_dga {
                continue;
            }
            match which {
                0 => splits.train.push(example),
                1 => splits.val.push(example),
                _ => splits.test.push(example),
            }
        }
    }
    dedup_within(&mut splits.train);
    dedup_within(&mut splits.val);
    dedup_within(&mut splits.test);
    splits
}

fn dedup_within(examples: &mut Vec<Example>) {
    let mut seen = std::collections::HashSet::new();
    examples.retain(|e| seen.insert(e.text.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_core::{InputView, TokeniserConfig};

    fn sample(domain: &str, is_dga: bool, family: &str) -> Sample {
        Sample {
            domain: domain.into(),
            is_dga,
            family: family.into(),
            source: "t".into(),
        }
    }

    #[test]
    fn split_is_stratified_deduplicated_and_repeatable() {
        let tokeniser = Tokeniser::new(TokeniserConfig::new().with_view(InputView::Registrable));
        let mut samples = Vec::new();
        for i in 0..1000 {
            samples.push(sample(&format!("benign{i}.com"), false, "legit"));
            // Same label under another suffix: one key, must not cross splits.
            samples.push(sample(&format!("benign{i}.net"), false, "legit"));
        }
        for i in 0..200 {
            samples.push(sample(&format!("qx{i}z.ru"), true, "small"));
        }
        samples.push(sample("not a domain", true, "small"));
        let examples = prepare(samples, &tokeniser);
        let splits = split(examples.clone(), 7);
        let again = split(examples, 7);
        assert_eq!(
            splits.test.iter().map(|e| &e.text).collect::<Vec<_>>(),
            again.test.iter().map(|e| &e.text).collect::<Vec<_>>()
        );
        let keys = |v: &[Example]| {
            v.iter()
                .map(|e| e.key.clone())
                .collect::<std::collections::HashSet<_>>()
        };
        let (tr, va, te) = (keys(&splits.train), keys(&splits.val), keys(&splits.test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        assert_eq!(tr.len() + va.len() + te.len(), 1200);
        // Both suffixes of a benign label land in the same split.
        let benign_names = splits.train.iter().filter(|e| e.family == "legit").count();
        assert_eq!(
            benign_names,
            2 * tr.iter().filter(|k| k.starts_with("benign")).count()
        );
        let small_test = splits.test.iter().filter(|e| e.family == "small").count();
        assert!((15..=25).contains(&small_test), "{small_test}");
    }

    #[test]
    fn held_out_families_are_only_in_the_test_split() {
        let tokeniser = Tokeniser::new(TokeniserConfig::new());
        let mut samples: Vec<Sample> = (0..300)
            .map(|i| sample(&format!("qx{i}z.ru"), true, "seen"))
            .collect();
        samples.extend((0..100).map(|i| sample(&format!("wv{i}k.ru"), true, "unseen")));
        samples.extend((0..300).map(|i| sample(&format!("benign{i}.com"), false, "legit")));
        let mut splits = split(prepare(samples, &tokeniser), 3);
        assert_eq!(splits.hold_out(&["unseen".to_owned()]), 100);
        let unseen = |v: &[Example]| v.iter().filter(|e| e.family == "unseen").count();
        assert_eq!(unseen(&splits.train) + unseen(&splits.val), 0);
        assert_eq!(unseen(&splits.test), 100);
        assert!(splits.train.iter().any(|e| e.family == "seen"));
    }
}
