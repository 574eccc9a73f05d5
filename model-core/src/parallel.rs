//! Spreads scoring over the machine's cores: the CPU backends run a batch of short sequences on
//! one thread, so each thread takes its own slice of the input instead.

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
    fn keeps_input_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let doubled = map_chunks(&items, 100, |part| part.iter().map(|x| x * 2).collect());
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
