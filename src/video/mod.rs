//! Twilio Programmable Video: the access tokens a participant's browser uses to join a
//! room, minted locally (no API call) and signed with an API Key secret; and a REST
//! client for the host controls (rooms and their participants).
//!
//! A token carries a video grant for exactly one room and the participant's username as
//! its identity; it is byte-for-byte the kind of JWT Twilio's helper libraries produce.

pub mod compositions;
pub mod keep_out;
pub mod rest;
pub mod rooms;
pub mod token;

pub use rest::{
    Participant, ParticipantStatus, RecordingRule, RecordingRules, Room, RoomStatus, VideoClient,
    VideoConfig, VideoError,
};
pub use rooms::{RoomBackoff, RoomKeeper};
pub use token::*;
