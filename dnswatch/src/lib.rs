//! DNS traffic in, host verdicts out: reading DNS logs ([`dnslog`]) and capture files
//! ([`capture`]), and judging each client
//! over time ([`hosts`]) against its own volume and the network's learned rates ([`rates`]),
//! what many clients share ([`shared`]) and the words its failed names reuse. model-core gives
//! each name its verdict; this crate decides which hosts an analyst should look at. No IO, so
//! the page builds it for wasm.

pub mod capture;
pub mod dnslog;
pub mod hosts;
pub mod network;
pub mod rates;
pub mod shared;
pub mod split;

/// The log time below which the oldest `share` of `times` lies: where a map past its bound is
/// cut (maps here are bounded by dropping their oldest entries).
pub(crate) fn oldest_cut(mut times: Vec<f64>, share: f64) -> f64 {
    if times.is_empty() {
        return f64::NEG_INFINITY;
    }
    let index = ((times.len() as f64 * share) as usize).min(times.len() - 1);
    let (_, cut, _) = times.select_nth_unstable_by(index, f64::total_cmp);
    *cut
}

/// A 64-bit hash of a name (registrable domain or client) for the maps that hold many, or of a
/// message's bytes.
pub(crate) fn key_of<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(value)
}
