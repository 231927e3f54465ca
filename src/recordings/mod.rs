//! Recordings of video rooms: whether one is running now ([`live`]).

pub mod live;
