//! Spreads scoring over the machine's cores: the CPU backends run a batch of short sequences on
//! one thread, so each thread takes its own slice of the input instead.

use burn::tensor::backend::Backend;

use crate::detector::{Detector, Verdict};
use crate::normalise::DomainError;

/// One input to [`score_each`]: its text, and why it cannot be scored when that is known
/// before scoring (bytes that are not UTF-8, a line cut short, a null in a table).
pub struct Input<'a> {
    pub text: &'a str,
    pub problem: Option<&'a str>,
}

/// One verdict per input, in order, on `threads` threads: inputs with a problem get it as their
/// error (never dropped), the rest are scored.
pub fn score_each<B: Backend>(
    detector: &Detector<B>,
    threads: usize,
    inputs: &[Input],
) -> Vec<Verdict>
where
    Detector<B>: Sync,
{
    let clean: Vec<&str> = inputs
        .iter()
        .filter(|input| input.problem.is_none())
        .map(|input| input.text)
        .collect();
    let mut scored = map_chunks_on(threads, &clean, detector.batch_size, |part| {
        detector.score(part)
    })
    .into_iter();
    inputs
        .iter()
        .map(|input| match input.problem {
            Some(problem) => Verdict {
                input: input.text.to_owned(),
                result: Err(DomainError::Unparsable(problem.to_owned())),
            },
            None => scored.next().expect("one verdict per clean input"),
        })
        .collect()
}

/// Applies `f` to consecutive slices of `items`, one slice per core, and concatenates the results
/// in input order. Inputs smaller than two `min_slice`s stay on the calling thread.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    min_slice: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    map_chunks_on(cores(), items, min_slice, f)
}

/// The cores this process may use (1 where the platform cannot tell, as in the browser).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// [`map_chunks`] on at most `threads` threads (a Spark task, say, that shares the machine
/// with other tasks takes one).
pub fn map_chunks_on<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    min_slice: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 * min_slice.max(1) {
        return f(items);
    }
    let per_thread = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a scoring thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_with_a_problem_keep_their_place_and_reason() {
        use crate::model::ModelSize;
        let config = ModelSize::Tiny.config();
        let device = Default::default();
        let detector =
            Detector::<burn::backend::NdArray>::new(config.clone(), config.init(&device), device);
        let inputs = [
            Input {
                text: "example.com",
                problem: None,
            },
            Input {
                text: "ex\u{FFFD}",
                problem: Some("not UTF-8"),
            },
            Input {
                text: "qxzv.ru",
                problem: None,
            },
        ];
        let verdicts = score_each(&detector, 2, &inputs);
        let inputs: Vec<&str> = verdicts.iter().map(|v| v.input.as_str()).collect();
        assert_eq!(inputs, ["example.com", "ex\u{FFFD}", "qxzv.ru"]);
        assert!(verdicts[0].result.is_ok() && verdicts[2].result.is_ok());
        let error = verdicts[1].result.as_ref().unwrap_err().to_string();
        assert!(error.contains("not UTF-8"), "{error}");
    }

    #[test]
    fn keeps_input_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let doubled = map_chunks(&items, 100, |part| part.iter().map(|x| x * 2).collect());
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
