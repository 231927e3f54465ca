//! Recordings kept off Twilio (issue 10): rooms recorded on purpose, each recording
//! composed, moved into the operator's storage, verified, deleted on Twilio, and
//! played back only through links that expire in seconds.

pub mod catalog;
pub mod library;
pub mod pipeline;
pub mod storage;

#[cfg(test)]
mod test_bucket;
