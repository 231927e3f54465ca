//! Room names are lowercase, but people type `/rooms/Standup` (or `/rooms/standup/`): a
//! path whose room is valid once lowercased is sent, permanently, to that lowercase
//! path without a trailing slash (`308`, which
//! keeps the method and body, so a POST is repeated there as a POST). The rest of the
//! path and the query go along. Anything else is left to the routes: an invalid name
//! is still their `404`.
//!
//! Likewise a room sent percent-encoded (`/rooms/st%61ndup`): actix's router decodes
//! it and would serve `standup`, but the middlewares before routing read the path as
//! sent (the flood shedding among them, `shed.rs`), and would not know the room. So
//! every room's pages have one spelling, which those middlewares see.

use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::LOCATION;
use actix_web::middleware::Next;

use crate::domain::RoomName;

pub async fn canonical_room_paths(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(location) = canonical(req.path(), req.query_string()) {
        let resp = HttpResponse::PermanentRedirect()
            .insert_header((LOCATION, location))
            .finish();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The plain lowercase path (and query) for `path`, when its room has capitals or
/// percent-encoding and is valid without them, or the path ends with a slash (as a
/// typed or pasted link may). `path` is as sent.
fn canonical(path: &str, query: &str) -> Option<String> {
    let rest = path.strip_prefix("/rooms/")?;
    let (room, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let trimmed = tail.trim_end_matches('/');
    if trimmed.len() == tail.len() && !room.bytes().any(|b| b.is_ascii_uppercase() || b == b'%') {
        return None;
    }
    let tail = trimmed;
    let decoded = percent_encoding::percent_decode_str(room)
        .decode_utf8()
        .ok()?;
    let room = RoomName::parse(&decoded.to_ascii_lowercase()).ok()?;
    let mut location = format!("/rooms/{room}{tail}");
    if !query.is_empty() {
        location.push('?');
        location.push_str(query);
    }
    Some(location)
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn capitals_in_a_valid_room_go_to_the_lowercase_path() {
        let cases = [
            ("/rooms/Standup", "", Some("/rooms/standup")),
            ("/rooms/STAND-UP/verify", "", Some("/rooms/stand-up/verify")),
            ("/rooms/Standup/", "a=1&b=B", Some("/rooms/standup?a=1&b=B")),
            ("/rooms/standup/", "", Some("/rooms/standup")),
            ("/rooms/standup/verify//", "", Some("/rooms/standup/verify")),
            ("/rooms/stand_up/", "", None),
            ("/rooms/standup", "", None),
            ("/rooms/Stand_up", "", None),
            ("/rooms/St%41ndup", "", Some("/rooms/standup")),
            ("/rooms/st%61ndup/login", "", Some("/rooms/standup/login")),
            ("/rooms/st%2561ndup", "", None),
            ("/rooms/st%ZZndup", "", None),
            ("/rooms/st%FFndup", "", None),
            ("/rooms/stand%2Fup", "", None),
            ("/rooms/-Standup", "", None),
            ("/rooms/", "", None),
            ("/Rooms/Standup", "", None),
            ("/language/FR", "", None),
        ];
        for (path, query, want) in cases {
            assert_eq!(canonical(path, query).as_deref(), want, "{path}?{query}");
        }
    }
}
