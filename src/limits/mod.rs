//! Rate limits, lockouts and the counters behind them.

pub mod limiter;
pub mod store;

pub use limiter::{Limited, LimitedAction, Limiter, LimitsConfig};
pub use store::{CounterStore, MemoryStore, Rule};
