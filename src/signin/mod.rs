//! Signing in: pending sign-ins in the store ([`pending`]) and the flow that moves
//! them from "send me a code" to a verified session ([`flow`]).

pub mod flow;
pub mod pending;

pub use flow::{Checked, Refusal, Visit, refuse};
pub use pending::{CodeRequest, SIGN_IN_TTL, SignIn, SignInId, SignIns, Start, StartState};
