//! roomgate: an OTP gatekeeper in front of a Twilio Programmable Video room.

pub mod clock;
pub mod domain;
pub mod verify;
