//! Recordings kept off Twilio.

pub mod storage;
