//! Rate limits, lockouts and the counters behind them.

pub mod store;

pub use store::{CounterStore, MemoryStore, Rule};
