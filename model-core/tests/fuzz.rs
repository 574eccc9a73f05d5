//! Property tests of the functions every untrusted byte reaches first: the normaliser, the
//! extractor and the DNS log parsers. They must never panic, and what they return must hold
//! its invariants.
//!
//! A normal test run tries 256 inputs per property; a long fuzzing run sets the count:
//! `PROPTEST_CASES=3000000 cargo test --release -p model-core --test fuzz` (README, "Fuzzing").

use model_core::AllowList;
use model_core::extract::{candidates, domain_column};
use proptest::prelude::*;

mod strategies;
use strategies::{any_text, check_domain};

proptest! {
    #[test]
    fn normalise_never_panics_and_keeps_its_invariants(input in any_text()) {
        check_domain(&input);
    }

    #[test]
    fn extractor_never_panics_and_returns_pieces_of_its_input(text in prop::collection::vec(any_text(), 0..8)) {
        let text = text.join("\n");
        let extracted = candidates(&text);
        let lines = text.lines().count();
        for c in &extracted.candidates {
            prop_assert!(text.contains(c.text), "{:?} not in {:?}", c.text, text);
            prop_assert!(c.line >= 1 && c.line <= lines);
            check_domain(c.text);
        }
        let _ = domain_column(&text);
    }

    #[test]
    fn allow_list_parsing_never_panics(text in prop::collection::vec(any_text(), 0..8)) {
        let text = text.join("\n");
        let (list, bad) = AllowList::parse(&text);
        prop_assert!(list.len() + bad.len() <= text.lines().count());
        prop_assert!(bad.iter().all(|b| b.line >= 1 && b.line <= text.lines().count()));
    }
}
