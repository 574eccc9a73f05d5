//! DNS traffic in, host verdicts out: reading DNS logs ([`dnslog`]), and judging each client
//! over time ([`hosts`]) against its own volume and the network's learned rates ([`rates`]),
//! what many clients share ([`shared`]) and the words its failed names reuse. model-core gives
//! each name its verdict; this crate decides which hosts an analyst should look at. No IO, so
//! the page builds it for wasm.

pub mod dnslog;
pub mod hosts;
pub mod rates;
pub mod shared;
