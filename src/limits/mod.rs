//! Rate limits and lockouts, counted in the [`crate::store`].

pub mod limiter;
pub mod refused;

pub use crate::store::Rule;
pub use limiter::{Denied, Limited, LimitedAction, Limiter, LimitsConfig};
