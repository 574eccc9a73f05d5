//! The family of a group of names: the DGA names one host looked up. One name often cannot tell
//! generators of random-looking names apart (Ramnit's names are lowercase letters of 8 to 19
//! before `.com`, as are those of several other families), but the names of one infection come
//! from one generator, so their evidence adds up: the head's probabilities are pooled over the
//! group, and the group must also fit the named family's own names in label length, characters
//! and suffix. That fit is what declines families never seen: an unseen generator's names often
//! look like a known family's one by one, but not as a group (twenty names all 12 letters long
//! are not a family whose lengths run from 8 to 19).
//!
//! The same profiles also check one name ([`NameRule`]): how likely its label length and
//! characters are under the head's first guess, against under all families, and how well it
//! fits that family's names, added to the head's log-probability. One name carries little of
//! this evidence, but enough to decline many names of unseen generators that the head alone
//! names with confidence.

use serde::{Deserialize, Serialize};

use crate::UNKNOWN_FAMILY;

/// Characters counted in a profile: `a`-`z`, `0`-`9`, `-`, then everything else.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
/// Label lengths counted apart: 1 to 63, the longest a label may be.
const LENGTHS: usize = 64;
/// Pseudo-count added to every bin of a profile, so that a length or character a family's
/// training names never had is improbable rather than impossible.
const PSEUDO: f64 = 0.1;
/// Probability given to a family outside a name's kept classes, at least (see [`GroupMember`]).
const FLOOR: f64 = 1e-9;

/// What a family's training names look like, counted: the reference a group must fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyProfile {
    /// Names counted (the family head's training names of the family).
    pub names: u32,
    /// Names per registrable-label length, from length `lengths_from` on (the rest were 0).
    pub lengths_from: u8,
    pub lengths: Vec<u32>,
    /// Label characters per [`ALPHABET`] entry, and last the rest.
    pub chars: Vec<u32>,
    /// Names per public suffix, most frequent first (at most [`FamilyProfile::SUFFIXES`]).
    pub suffixes: Vec<(String, u32)>,
    /// Names under any other suffix.
    pub other_suffixes: u32,
}

impl FamilyProfile {
    /// Suffixes a profile names; a family's rarer ones are counted together.
    pub const SUFFIXES: usize = 16;

    /// The profile of `names`, each as (registrable label, public suffix).
    pub fn of<'a>(names: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut lengths = [0u32; LENGTHS];
        let mut chars = vec![0u32; ALPHABET.len() + 1];
        let mut suffixes: Vec<(String, u32)> = Vec::new();
        let mut count = 0u32;
        for (label, suffix) in names {
            count += 1;
            lengths[length_bin(label)] += 1;
            for b in label.bytes() {
                chars[char_bin(b)] += 1;
            }
            match suffixes.iter_mut().find(|(s, _)| s == suffix) {
                Some((_, n)) => *n += 1,
                None => suffixes.push((suffix.to_owned(), 1)),
            }
        }
        suffixes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let other_suffixes = suffixes.iter().skip(Self::SUFFIXES).map(|(_, n)| n).sum();
        suffixes.truncate(Self::SUFFIXES);
        let first = lengths.iter().position(|&n| n > 0).unwrap_or(0);
        let last = lengths.iter().rposition(|&n| n > 0).unwrap_or(0);
        Self {
            names: count,
            lengths_from: first as u8,
            lengths: lengths[first..=last].to_vec(),
            chars,
            suffixes,
            other_suffixes,
        }
    }

    /// Log-probability of a label's length among this profile's names (smoothed).
    fn length_log_p(&self, label: &str) -> f64 {
        let count = f64::from(self.length_count(length_bin(label)));
        smoothed_log_share(count, f64::from(self.names), LENGTHS)
    }

    /// Log-probability of a label's characters, each drawn from this profile's characters.
    fn chars_log_p(&self, label: &str) -> f64 {
        let counts: Vec<f64> = self.chars.iter().map(|&c| f64::from(c)).collect();
        chars_log_p(&counts, label)
    }

    /// Log-likelihood of a name under this profile alone: its label length, its characters
    /// and its suffix, each drawn from the family's names (smoothed), as if independent.
    pub fn log_likelihood(&self, label: &str, suffix: &str) -> f64 {
        let suffix = f64::from(self.suffix_count(suffix));
        let suffix_bins = self.suffixes.len() + 1;
        self.length_log_p(label)
            + self.chars_log_p(label)
            + smoothed_log_share(suffix, f64::from(self.names), suffix_bins)
    }

    /// Names under this suffix, or under the suffixes not listed when it is not.
    fn suffix_count(&self, suffix: &str) -> u32 {
        (self.suffixes.iter())
            .find(|(s, _)| s == suffix)
            .map_or(self.other_suffixes, |(_, n)| *n)
    }

    fn length_count(&self, bin: usize) -> u32 {
        bin.checked_sub(usize::from(self.lengths_from))
            .and_then(|i| self.lengths.get(i).copied())
            .unwrap_or(0)
    }

    /// Whether the profile's names had this name's label length, each of its characters and
    /// its suffix. The G-tests of [`FamilyProfile::fit`] cannot say so of one name: one name in
    /// a length the family never had still passes 0.001 at a dozen degrees of freedom.
    pub fn made(&self, member: &GroupMember) -> bool {
        self.suffix_count(member.suffix) > 0
            && self.length_count(length_bin(member.label)) > 0
            && (member.label.bytes()).all(|b| self.chars.get(char_bin(b)).is_some_and(|&n| n > 0))
    }

    /// How well `members` fit this profile: the smallest p-value of three G-tests of goodness
    /// of fit (label lengths, label characters, suffixes), each against a chi-squared
    /// distribution with one degree of freedom fewer than the bins the family's names used.
    /// The chi-squared reading is rough for small groups; the threshold it meets is chosen on
    /// groups of held-out families, so only its order matters.
    pub fn fit(&self, members: &[GroupMember]) -> f64 {
        let n = members.len() as f64;
        let mut lengths = [0f64; LENGTHS];
        let mut chars = vec![0f64; ALPHABET.len() + 1];
        let mut suffixes = vec![0f64; self.suffixes.len() + 1];
        for m in members {
            lengths[length_bin(m.label)] += 1.0;
            for b in m.label.bytes() {
                chars[char_bin(b)] += 1.0;
            }
            let at = self.suffixes.iter().position(|(s, _)| s == m.suffix);
            suffixes[at.unwrap_or(self.suffixes.len())] += 1.0;
        }
        let length_counts: Vec<u32> = (0..LENGTHS).map(|b| self.length_count(b)).collect();
        let suffix_counts: Vec<u32> = (self.suffixes.iter().map(|(_, c)| *c))
            .chain([self.other_suffixes])
            .collect();
        let letters: f64 = chars.iter().sum();
        [
            g_test(&lengths, &length_counts, n),
            g_test(&chars, &self.chars, letters),
            g_test(&suffixes, &suffix_counts, n),
        ]
        .into_iter()
        .fold(1.0, f64::min)
    }
}

/// The public suffix of `registrable_domain` whose registrable label is `label` (`com` for
/// `example.com`), or `""` when the domain does not start with the label.
pub fn suffix_of<'a>(registrable_domain: &'a str, label: &str) -> &'a str {
    registrable_domain
        .strip_prefix(label)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or("")
}

/// `ln((count + PSEUDO) / (total + PSEUDO * bins))`: a share of `total` smoothed as the
/// G-tests smooth their references.
fn smoothed_log_share(count: f64, total: f64, bins: usize) -> f64 {
    ((count + PSEUDO) / (total + PSEUDO * bins as f64)).ln()
}

/// Log-probability of `label`'s characters, each drawn from the distribution of `counts` (one
/// per character bin).
fn chars_log_p(counts: &[f64], label: &str) -> f64 {
    let total: f64 = counts.iter().sum();
    label
        .bytes()
        .map(|b| {
            let count = counts.get(char_bin(b)).copied().unwrap_or(0.0);
            smoothed_log_share(count, total, counts.len())
        })
        .sum()
}

fn length_bin(label: &str) -> usize {
    label.len().min(LENGTHS - 1)
}

fn char_bin(b: u8) -> usize {
    ALPHABET
        .iter()
        .position(|&a| a == b)
        .unwrap_or(ALPHABET.len())
}

/// P-value of a G-test of `observed` (summing to `total`) against the distribution of
/// `reference` counts, smoothed by [`PSEUDO`].
fn g_test(observed: &[f64], reference: &[u32], total: f64) -> f64 {
    let reference_total: f64 =
        reference.iter().map(|&c| f64::from(c)).sum::<f64>() + PSEUDO * reference.len() as f64;
    let g: f64 = 2.0
        * observed
            .iter()
            .zip(reference)
            .filter(|(o, _)| **o > 0.0)
            .map(|(o, &r)| {
                let expected = total * (f64::from(r) + PSEUDO) / reference_total;
                o * (o / expected).ln()
            })
            .sum::<f64>();
    let used = reference.iter().filter(|&&c| c > 0).count();
    let freedom = used.saturating_sub(1).max(1) as f64;
    if g <= 0.0 {
        return 1.0;
    }
    statrs::function::gamma::gamma_ur(freedom / 2.0, g / 2.0)
}

/// One name of a group: its registrable label and public suffix, and the family head's most
/// probable classes for it (index, probability), as [`crate::Family::classes`] keeps them.
#[derive(Debug, Clone, Copy)]
pub struct GroupMember<'a> {
    pub label: &'a str,
    pub suffix: &'a str,
    pub classes: &'a [(u32, f32)],
}

impl GroupMember<'_> {
    /// The head's probability of `class` for this name; a class outside the kept ones shares
    /// what they leave evenly with the other classes left out.
    fn p(&self, class: u32, families: usize) -> f64 {
        if let Some(&(_, p)) = self.classes.iter().find(|(c, _)| *c == class) {
            return f64::from(p).max(FLOOR);
        }
        let kept: f64 = self.classes.iter().map(|&(_, p)| f64::from(p)).sum();
        let left = families.saturating_sub(self.classes.len()).max(1) as f64;
        ((1.0 - kept).max(1e-6) / left).max(FLOOR)
    }
}

/// How groups are named: measured by the trainer on groups of families held out of the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRule {
    /// One profile per family, in the head's class order.
    pub profiles: Vec<FamilyProfile>,
    /// A group is named only when its fit ([`FamilyProfile::fit`]) is at least this.
    pub fit_at_least: f32,
    /// Below this mean probability of the pooled family the answer is `unknown`: for groups of
    /// 2 names, 3, and so on; the last entry holds for larger groups.
    pub unknown_below: Vec<f32>,
    /// Share of held-out families' groups answered `unknown` (test split) for groups of 3, 5
    /// and 10 names: measured when the rule was fitted, as the weights alone cannot.
    #[serde(default)]
    pub unknown_on_held_out: Vec<(u32, f32)>,
    /// Share of known families' groups named right (test split), for the same sizes.
    #[serde(default)]
    pub named_right: Vec<(u32, f32)>,
    /// How one name is named (files from before it name one name by the head's probability
    /// alone, [`crate::FamilyConfig::unknown_below`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_name: Option<NameRule>,
}

/// The evidence about one name's family beyond the head's first guess (see [`NameRule`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameEvidence {
    /// The head's first guess and the natural log of its probability.
    pub class: u32,
    pub log_p: f64,
    /// Log-likelihood ratio of the label's length under the guess's profile against under all
    /// families together.
    pub length: f64,
    /// The same for the label's characters.
    pub chars: f64,
    /// Natural log of the name's fit to the guess's profile ([`FamilyProfile::fit`]).
    pub log_fit: f64,
}

/// How one name is named: the head's first guess when
/// `ln p + length_weight * length + chars_weight * chars + fit_weight * ln fit` (the terms of
/// [`NameEvidence`]) reaches `unknown_below`, else `unknown`. The weights and the threshold
/// are chosen by the trainer on validation names of families held out of the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameRule {
    pub length_weight: f32,
    pub chars_weight: f32,
    pub fit_weight: f32,
    pub unknown_below: f32,
}

impl NameRule {
    pub fn score(&self, e: &NameEvidence) -> f64 {
        e.log_p
            + f64::from(self.length_weight) * e.length
            + f64::from(self.chars_weight) * e.chars
            + f64::from(self.fit_weight) * e.log_fit
    }
}

/// The family a group of names was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFamily {
    /// The pooled family, or `unknown` when the group is not sure or does not fit it.
    pub name: String,
    /// The pooled family, also when the answer is `unknown`.
    pub best: String,
    /// Mean over the names of the head's probability of `best`.
    pub p: f32,
    /// How well the names fit `best`'s own names ([`FamilyProfile::fit`]).
    pub fit: f32,
    /// Names pooled.
    pub names: usize,
}

impl GroupRule {
    /// A rule of `profiles` (one per family, in the head's class order) with no thresholds yet.
    pub fn new(profiles: Vec<FamilyProfile>, fit_at_least: f32) -> Self {
        Self {
            profiles,
            fit_at_least,
            unknown_below: Vec::new(),
            unknown_on_held_out: Vec::new(),
            named_right: Vec::new(),
            one_name: None,
        }
    }

    /// Why a rule read from a weights file cannot be used: profiles counted over other
    /// characters than [`ALPHABET`]'s, or thresholds and weights that are not numbers.
    pub fn check(&self) -> Result<(), &'static str> {
        if self
            .profiles
            .iter()
            .any(|p| p.chars.len() != ALPHABET.len() + 1)
        {
            return Err("a family profile must count 38 kinds of characters");
        }
        let one_name = self.one_name.iter().flat_map(|r| {
            [
                r.length_weight,
                r.chars_weight,
                r.fit_weight,
                r.unknown_below,
            ]
        });
        let mut numbers = (self.unknown_below.iter().copied())
            .chain([self.fit_at_least])
            .chain(one_name);
        if numbers.any(|n| !n.is_finite()) {
            return Err("the group rule's thresholds and weights must be numbers");
        }
        Ok(())
    }

    /// Whether one name is named its head's first guess; `None` without a [`NameRule`].
    pub fn names_one(&self, member: &GroupMember) -> Option<bool> {
        let rule = self.one_name.as_ref()?;
        let evidence = self.evidence(member)?;
        Some(rule.score(&evidence) >= f64::from(rule.unknown_below))
    }

    /// What one name says about its head's first guess; `None` for a name without classes.
    pub fn evidence(&self, member: &GroupMember) -> Option<NameEvidence> {
        let &(class, p) = member.classes.first()?;
        let profile = self.profiles.get(class as usize)?;
        // All families' names counted together: summed here rather than kept, as only names
        // called DGA ask (a hundred profiles, a few thousand additions).
        let sum = |count: &dyn Fn(&FamilyProfile) -> u32| -> f64 {
            self.profiles.iter().map(|p| f64::from(count(p))).sum()
        };
        let bin = length_bin(member.label);
        let length = profile.length_log_p(member.label)
            - smoothed_log_share(sum(&|p| p.length_count(bin)), sum(&|p| p.names), LENGTHS);
        let all_chars: Vec<f64> = (0..=ALPHABET.len())
            .map(|b| sum(&|p| p.chars.get(b).copied().unwrap_or(0)))
            .collect();
        let chars = profile.chars_log_p(member.label) - chars_log_p(&all_chars, member.label);
        Some(NameEvidence {
            class,
            log_p: f64::from(p).max(FLOOR).ln(),
            length,
            chars,
            log_fit: profile
                .fit(std::slice::from_ref(member))
                .max(f64::MIN_POSITIVE)
                .ln(),
        })
    }

    /// Whether one name of a group named `class` is counted among that family's names: `class`
    /// is among the head's three likeliest for it (those its verdict shows; all eight kept gave
    /// stray names of other families the group's family more often: docs/model.md, "The host's
    /// names"), and the family's own names had its label length, each of its characters and its
    /// suffix ([`FamilyProfile::made`]). A Ramnit name of 16 letters may read as Sphinx alone,
    /// but on a host whose names point together to Ramnit it is Ramnit's; a name Ramnit could
    /// not have made keeps its own reading.
    pub fn belongs(&self, class: u32, member: &GroupMember) -> bool {
        (member.classes.iter().take(crate::FAMILY_TOP)).any(|&(c, _)| c == class)
            && (self.profiles.get(class as usize)).is_some_and(|p| p.made(member))
    }

    /// The family of `members` under a head with `names` classes; `None` for fewer than two
    /// members (one name is named by [`GroupRule::names_one`]).
    pub fn name(&self, names: &[String], members: &[GroupMember]) -> Option<GroupFamily> {
        let (best, p) = self.pooled(names.len(), members)?;
        let fit = self.profiles.get(best as usize)?.fit(members);
        let threshold = self.threshold(members.len());
        let best_name = names.get(best as usize)?.clone();
        let known = f64::from(p) >= f64::from(threshold) && fit >= f64::from(self.fit_at_least);
        Some(GroupFamily {
            name: if known {
                best_name.clone()
            } else {
                UNKNOWN_FAMILY.to_owned()
            },
            best: best_name,
            p,
            fit: fit as f32,
            names: members.len(),
        })
    }

    /// The mean probability a group of `n` names must reach.
    pub fn threshold(&self, n: usize) -> f32 {
        let at = n
            .saturating_sub(2)
            .min(self.unknown_below.len().saturating_sub(1));
        self.unknown_below.get(at).copied().unwrap_or(1.0)
    }

    /// The family the group's names point to together and the mean of their probabilities of
    /// it. The head's outputs are posteriors under its training prior: their product counts
    /// the prior once per name, so all but one are divided out.
    pub fn pooled(&self, families: usize, members: &[GroupMember]) -> Option<(u32, f32)> {
        if members.len() < 2 {
            return None;
        }
        let total: f64 = self.profiles.iter().map(|p| f64::from(p.names)).sum();
        let prior = |c: u32| {
            let names = self.profiles.get(c as usize).map_or(0, |p| p.names);
            (f64::from(names) + 1.0) / (total + families as f64)
        };
        let mut candidates: Vec<u32> = members
            .iter()
            .flat_map(|m| m.classes.iter().map(|&(c, _)| c))
            .filter(|&c| (c as usize) < families)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let repeats = (members.len() - 1) as f64;
        let score = |c: u32| {
            members.iter().map(|m| m.p(c, families).ln()).sum::<f64>() - repeats * prior(c).ln()
        };
        let best = candidates
            .into_iter()
            .map(|c| (c, score(c)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        let mean = members.iter().map(|m| m.p(best, families)).sum::<f64>() / members.len() as f64;
        Some((best, mean as f32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels of `len` letters drawn from `letters` by a fixed rule (no RNG needed).
    fn labels(count: usize, lens: &[usize], letters: &[u8]) -> Vec<String> {
        (0..count)
            .map(|i| {
                let len = lens[i % lens.len()];
                (0..len)
                    .map(|j| letters[(i * 7 + j * 13 + i * j) % letters.len()] as char)
                    .collect()
            })
            .collect()
    }

    /// `labels` under `suffix`, each with the head's `classes`.
    fn members<'a>(
        labels: &'a [String],
        suffix: &'a str,
        classes: &'a [(u32, f32)],
    ) -> Vec<GroupMember<'a>> {
        (labels.iter())
            .map(|label| GroupMember {
                label,
                suffix,
                classes,
            })
            .collect()
    }

    fn rule() -> (Vec<String>, GroupRule) {
        let wide: Vec<String> = labels(
            2000,
            &(8..20).collect::<Vec<_>>(),
            b"abcdefghijklmnopqrstuvwxy",
        );
        let fixed: Vec<String> = labels(2000, &[12], b"abcdefghijklmnopqrstuvwxyz");
        let profiles = vec![
            FamilyProfile::of(wide.iter().map(|l| (l.as_str(), "com"))),
            FamilyProfile::of(fixed.iter().map(|l| (l.as_str(), "net"))),
        ];
        let rule = GroupRule {
            unknown_below: vec![0.9, 0.5, 0.2],
            ..GroupRule::new(profiles, 1e-3)
        };
        (vec!["wide".into(), "fixed".into()], rule)
    }

    #[test]
    fn a_group_named_by_pooled_evidence_that_no_single_name_reaches() {
        let (names, rule) = rule();
        let group = labels(10, &[9, 14, 17, 11, 19, 8], b"qwertyuiopasdfghjklxcvbnm");
        // Each name alone leans only a little towards `wide`: 0.55 against 0.45.
        let classes = [(0u32, 0.55f32), (1, 0.45)];
        let members = members(&group, "com", &classes);
        let named = rule.name(&names, &members).expect("ten members");
        assert_eq!((named.best.as_str(), named.name.as_str()), ("wide", "wide"));
        assert!(named.fit > 1e-3, "{named:?}");
    }

    #[test]
    fn a_group_that_does_not_fit_the_pooled_family_is_declined() {
        let (names, rule) = rule();
        // Names of one length only, under another suffix: not how `wide` names look together.
        let group = labels(10, &[12], b"abcdefghijklmnopqrstuvwxyz");
        let classes = [(0u32, 0.9f32), (1, 0.1)];
        let members = members(&group, "org", &classes);
        let named = rule.name(&names, &members).expect("ten members");
        assert_eq!(named.best, "wide");
        assert_eq!(named.name, UNKNOWN_FAMILY, "{named:?}");
    }

    #[test]
    fn one_name_is_no_group_and_thresholds_hold_past_the_table() {
        let (names, rule) = rule();
        let classes = [(0u32, 1.0f32)];
        let one = [GroupMember {
            label: "abcdefghij",
            suffix: "com",
            classes: &classes,
        }];
        assert_eq!(rule.name(&names, &one), None);
        assert_eq!(rule.threshold(2), 0.9);
        assert_eq!(rule.threshold(4), 0.2);
        assert_eq!(rule.threshold(400), 0.2);
    }

    #[test]
    fn one_name_is_declined_where_it_does_not_look_like_its_first_guess() {
        let (_, mut rule) = rule();
        let classes = [(1u32, 0.9f32), (0, 0.1)];
        let member = |label| GroupMember {
            label,
            suffix: "net",
            classes: &classes,
        };
        // No rule yet: the head's probability alone decides, elsewhere.
        assert_eq!(rule.names_one(&member("abcdefghijkl")), None);
        rule.one_name = Some(NameRule {
            length_weight: 1.0,
            chars_weight: 0.0,
            fit_weight: 0.0,
            unknown_below: 0.0,
        });
        // `fixed` names are all 12 letters long, against one in seven of all names.
        let fits = rule.evidence(&member("abcdefghijkl")).unwrap();
        assert!(fits.length > 0.5, "{fits:?}");
        assert_eq!(rule.names_one(&member("abcdefghijkl")), Some(true));
        // Five letters: no family's names have them, so only the fit tells.
        let odd = rule.evidence(&member("abcde")).unwrap();
        assert!(odd.log_fit < fits.log_fit - 5.0, "{odd:?} {fits:?}");
        // Nineteen letters: `wide` has them, `fixed` does not.
        assert_eq!(rule.names_one(&member("abcdefghijklmnopqrs")), Some(false));
    }

    #[test]
    fn a_name_belongs_to_its_group_family_only_where_it_fits_it() {
        let (_, rule) = rule();
        // Alone, the head leans to `fixed`; `wide` is kept and its names run from 8 to 19.
        let classes = [(1u32, 0.7f32), (0, 0.3)];
        let member = |label, suffix| GroupMember {
            label,
            suffix,
            classes: &classes,
        };
        assert!(rule.belongs(0, &member("qwertyuiopas", "com")));
        // Thirty letters: `wide` never made such a name.
        let long = "qwertyuiopasdfghjklzxcvbnmqwer";
        assert!(!rule.belongs(0, &member(long, "com")));
        // A suffix, or a character, that `wide` never had.
        assert!(!rule.belongs(0, &member("qwertyuiopas", "net")));
        assert!(!rule.belongs(0, &member("qwertyuiopaz", "com")));
        // A family the head did not keep for the name.
        let only_fixed = [(1u32, 1.0f32)];
        let kept_one = GroupMember {
            classes: &only_fixed,
            ..member("qwertyuiopas", "com")
        };
        assert!(!rule.belongs(0, &kept_one));
        // Kept, but fourth: not among the three a verdict shows.
        let fourth = [(1u32, 0.6f32), (7, 0.2), (8, 0.1), (0, 0.1)];
        let far = GroupMember {
            classes: &fourth,
            ..member("qwertyuiopas", "com")
        };
        assert!(!rule.belongs(0, &far));
    }

    #[test]
    fn a_name_is_likeliest_under_the_family_whose_names_share_its_length_and_suffix() {
        let twelve = FamilyProfile::of([("qwertyuiopas", "com"), ("asdfghjklzxc", "com")]);
        let eight = FamilyProfile::of([("qwertyui", "net"), ("asdfghjk", "net")]);
        let (long, short) = (("poiuytrewqlk", "com"), ("qwerasdf", "net"));
        let under =
            |p: &FamilyProfile, (label, suffix): (&str, &str)| p.log_likelihood(label, suffix);
        assert!(under(&twelve, long) > under(&eight, long));
        assert!(under(&eight, short) > under(&twelve, short));
        // The same length and characters under a suffix the family never had cost the suffix.
        assert!(under(&twelve, ("poiuytrewqlk", "org")) < under(&twelve, long));
    }

    #[test]
    fn a_rule_with_profiles_of_other_characters_is_refused() {
        let (_, mut short) = rule();
        assert_eq!(short.check(), Ok(()));
        short.profiles[1].chars.truncate(26);
        assert!(
            short
                .check()
                .unwrap_err()
                .contains("38 kinds of characters")
        );
        let (_, mut endless) = rule();
        endless.unknown_below.push(f32::INFINITY);
        assert!(endless.check().is_err());
    }

    #[test]
    fn the_g_test_accepts_a_sample_of_its_reference_and_refuses_another() {
        let reference = [100, 100, 100, 100];
        assert!(g_test(&[5.0, 5.0, 5.0, 5.0], &reference, 20.0) > 0.99);
        assert!(g_test(&[20.0, 0.0, 0.0, 0.0], &reference, 20.0) < 1e-6);
    }
}
