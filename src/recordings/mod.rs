//! Recordings kept off Twilio (issue 10): rooms recorded on purpose ([`live`] says
//! whether one is running now), each recording composed, moved into the operator's
//! storage, verified, deleted on Twilio ([`pipeline`]), and played back only through
//! links that expire in seconds ([`library`]).

pub mod catalog;
pub mod commands;
pub mod library;
pub mod live;
pub mod pipeline;
pub mod storage;

#[cfg(test)]
mod test_bucket;
