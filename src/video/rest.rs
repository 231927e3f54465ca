//! Twilio Video REST API v1, for host controls: look a room up, create it with a status
//! callback, list who is connected, remove someone, end the room, start and stop its
//! recording. Spoken to like the
//! Verify client: form-encoded HTTPS, Basic auth with an API key, the app's one shared
//! `reqwest::Client`.
//!
//! Paths, parameters and fields follow Twilio's OpenAPI description of Video v1
//! (`twilio_video_v1.json`); the operation ids below are the spec's.

use std::fmt;
use std::time::Instant;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, debug_span};

use crate::acl::RecordingMode;
use crate::domain::RoomName;
use crate::metrics::{Api, Metrics};
use crate::twilio::credentials::ApiKeys;
use crate::twilio::guard::{Guard, Rejected};
use crate::twilio::http::{self as twilio_http, Failure, ReplyMeta};
use crate::verify::TwilioApiError;

/// Where Twilio serves Video. Overridable so tests and regional edges can point elsewhere.
pub const DEFAULT_BASE_URL: &str = "https://video.twilio.com";

/// Twilio's code for "a room with this UniqueName is already in progress".
pub const ROOM_EXISTS_CODE: u32 = 53113;

/// Twilio's code for an operation on a room that doesn't exist.
const ROOM_NOT_FOUND_CODE: u32 = 53106;

/// A page of 50 participants is around 60 KiB; anything much bigger is not Twilio
/// talking, and an unbounded read would let a misbehaving proxy make us buffer
/// without limit.
const MAX_BODY_BYTES: usize = 512 * 1024;

/// At the default page size of 50 this is 1000 connected participants, far beyond
/// what one room holds. It stops a `next_page_url` that loops back on itself.
const MAX_PAGES: usize = 20;

/// Ended rooms asked for a page: 100 rooms of about 1 KiB each stay well under
/// [`MAX_BODY_BYTES`], and [`MAX_PAGES`] of them are 2,000 rooms.
const ROOMS_PAGE_SIZE: &str = "100";

const OP_FETCH_ROOM: &str = "FetchRoom";
const OP_LIST_ROOMS: &str = "ListRoom";
const OP_CREATE_ROOM: &str = "CreateRoom";
const OP_UPDATE_ROOM: &str = "UpdateRoom";
const OP_LIST_PARTICIPANTS: &str = "ListRoomParticipant";
const OP_UPDATE_PARTICIPANT: &str = "UpdateRoomParticipant";
const OP_UPDATE_RECORDING_RULES: &str = "UpdateRoomRecordingRule";

/// `Rules` for [`VideoClient::set_recording_rules`]: every track, or none. Twilio
/// replaces the room's rules with each POST, so these two say everything.
const RECORD_ALL: &str = r#"[{"type":"include","all":true}]"#;
const RECORD_NONE: &str = r#"[{"type":"exclude","all":true}]"#;

/// How to reach Twilio Video with one API key.
#[derive(Clone)]
pub struct VideoConfig {
    /// Scheme and host, e.g. [`DEFAULT_BASE_URL`] (`TWILIO_VIDEO_BASE_URL`); a trailing
    /// `/` is tolerated.
    pub base_url: String,
    /// `AC…`. Not part of Video v1 URLs (the API key implies the account); kept with
    /// the key it belongs to, so Video is configured like the token issuer.
    pub account_sid: String,
    /// The API key in service (Basic auth), read per request so it can be rotated.
    pub api_key: ApiKeys,
}

impl fmt::Debug for VideoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("api_key", &self.api_key)
            .finish()
    }
}

/// `room_enum_room_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomStatus {
    InProgress,
    Completed,
    Failed,
    /// A status this build doesn't know: Twilio adds enum values without a new API
    /// version, and one new word shouldn't make every answer undecodable.
    #[serde(other)]
    Unknown,
}

/// `room_participant_enum_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    Connected,
    Disconnected,
    Reconnecting,
    /// See [`RoomStatus::Unknown`].
    #[serde(other)]
    Unknown,
}

/// The subset of `video.v1.room` host controls use; other fields are ignored.
///
/// The spec marks every field nullable. `sid` and `status` are required here anyway:
/// without them an answer can't be acted on, so it is a [`VideoError::Decode`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Room {
    /// `RM…`.
    pub sid: String,
    /// Twilio defaults it to the sid when none was given at creation.
    pub unique_name: Option<String>,
    pub status: RoomStatus,
    /// ISO 8601, UTC, as Twilio sends it.
    pub date_created: Option<String>,
    pub end_time: Option<String>,
    /// Seconds; set once the room has ended.
    pub duration: Option<u64>,
    /// The URL Twilio tells of the room's events: ours for the rooms roomgate made.
    #[serde(default)]
    pub status_callback: Option<String>,
}

/// `video.v1.room.room_recording_rule`: a room's recording rules, as Twilio now has
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordingRules {
    pub room_sid: Option<String>,
    /// The spec lets it be `null` as well as absent: no rules, either way.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub rules: Vec<RecordingRule>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// One rule: `type` is `include` or `exclude`; `all`, or a `kind`, `publisher` or
/// `track` it matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordingRule {
    #[serde(rename = "type")]
    pub rule_type: String,
    pub all: Option<bool>,
    pub publisher: Option<String>,
    pub track: Option<String>,
    pub kind: Option<String>,
}

/// The subset of `video.v1.room.room_participant` host controls use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Participant {
    /// `PA…`.
    pub sid: String,
    pub room_sid: Option<String>,
    /// The access token's identity, i.e. the roomgate username.
    pub identity: Option<String>,
    pub status: ParticipantStatus,
    /// ISO 8601, UTC: when the participant connected.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Seconds connected; Twilio fills it in only once the participant has left.
    pub duration: Option<u64>,
}

/// Everything that can go wrong talking to Twilio Video, by what a caller does next.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// No such room or participant (HTTP 404, or Twilio 20404 / 53106). A room's
    /// UniqueName only addresses it while it is in progress, so an ended room looked up
    /// by name is not found either.
    #[error("not found")]
    NotFound,
    /// 53113: a room with this UniqueName is already in progress. For "make sure the
    /// room exists" this is success.
    #[error("room already exists (53113)")]
    RoomExists,
    /// Any other Twilio error (auth, a room that is not in progress, 5xx …).
    #[error("Twilio Video API error: {0}")]
    Api(TwilioApiError),
    /// No answer in time. A POST may still have taken effect.
    #[error("timed out waiting for Twilio Video")]
    Timeout,
    /// Not sent: the Video guard answered busy (too many calls in flight, or its
    /// breaker open after repeated failures).
    #[error("Twilio Video busy: {0}")]
    Busy(Rejected),
    #[error("could not reach Twilio Video")]
    Connect(#[source] anyhow::Error),
    /// A success status whose body we could not use.
    #[error("unexpected response from Twilio Video")]
    Decode(#[source] anyhow::Error),
}

impl VideoError {
    fn from_api(http_status: StatusCode, api: TwilioApiError) -> Self {
        match api.code {
            Some(ROOM_EXISTS_CODE) => Self::RoomExists,
            Some(20404 | ROOM_NOT_FOUND_CODE) => Self::NotFound,
            _ if http_status == StatusCode::NOT_FOUND => Self::NotFound,
            _ => Self::Api(api),
        }
    }

    /// Whether Video itself is failing (no answer, or a 5xx), as opposed to answering
    /// about this request: what the circuit breaker counts. For a POST, also whether
    /// it may have taken effect all the same.
    pub(crate) fn is_service_failure(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) | Self::Decode(_) => true,
            Self::Api(api) => api.status >= 500,
            Self::NotFound | Self::RoomExists | Self::Busy(_) => false,
        }
    }
}

/// The Twilio Video REST client. Cheap to clone; shares the given HTTP client's pool.
#[derive(Debug, Clone)]
pub struct VideoClient {
    pub(super) http: reqwest::Client,
    pub(super) config: VideoConfig,
    pub(super) metrics: Option<Metrics>,
    pub(super) guard: Option<Guard>,
}

impl VideoClient {
    /// `http` should be a clone of the app's one client
    /// ([`crate::twilio::verify::http_client`]): it never retries and never follows
    /// redirects, which matters here too, since the POSTs below are not idempotent.
    pub fn new(http: reqwest::Client, config: VideoConfig) -> Self {
        Self {
            http,
            config,
            metrics: None,
            guard: None,
        }
    }

    /// Every call goes through `guard`: refused at once as [`VideoError::Busy`] when it
    /// is saturated or its breaker open.
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Time every call into the `api="video"` latency histogram.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// `FetchRoom`: `GET /v1/Rooms/{Sid}`. `name_or_sid` may be a room's UniqueName
    /// while the room is in progress. `Ok(None)` when Twilio has no such room.
    pub async fn fetch_room(&self, name_or_sid: &str) -> Result<Option<Room>, VideoError> {
        let span = debug_span!("video_fetch_room", room = %name_or_sid);
        async {
            let url = self.url(&["v1", "Rooms", name_or_sid])?;
            match self.call(OP_FETCH_ROOM, Method::GET, url, None).await {
                Ok(room) => Ok(Some(room)),
                Err(VideoError::NotFound) => Ok(None),
                Err(err) => Err(err),
            }
        }
        .instrument(span)
        .await
    }

    /// `ListRoom`: `GET /v1/Rooms?Status=completed&DateCreatedAfter=…`, the rooms
    /// created since `created_after` that have ended, newest first as Twilio lists
    /// them, following `meta.next_page_url` for up to [`MAX_PAGES`] pages. Whether the
    /// listing went on past them comes back too: the rooms returned are then the
    /// newest only.
    pub async fn list_ended_rooms(
        &self,
        created_after: std::time::SystemTime,
    ) -> Result<(Vec<Room>, bool), VideoError> {
        let span = debug_span!("video_list_ended_rooms");
        async {
            let mut url = self.url(&["v1", "Rooms"])?;
            url.query_pairs_mut()
                .append_pair("Status", "completed")
                .append_pair(
                    "DateCreatedAfter",
                    &crate::clock::text::rfc3339(created_after),
                )
                .append_pair("PageSize", ROOMS_PAGE_SIZE);
            self.pages::<RoomPage>(OP_LIST_ROOMS, url).await
        }
        .instrument(span)
        .await
    }

    /// `CreateRoom`: `POST /v1/Rooms` with `UniqueName` and, when given,
    /// `StatusCallback` with `StatusCallbackMethod=POST`.
    ///
    /// `Type` is left out so the account's default room type applies (the spec
    /// recommends `group` for new implementations; that is set once in the Console,
    /// not per call). [`VideoError::RoomExists`] when the name is already in progress.
    pub async fn create_room(
        &self,
        unique_name: &RoomName,
        status_callback: Option<&Url>,
    ) -> Result<Room, VideoError> {
        self.create_room_recorded(unique_name, status_callback, RecordingMode::Off)
            .await
    }

    /// [`VideoClient::create_room`] for a room whose ACL `recording` setting is
    /// `recording`. A room that may be recorded is created with `Type=group`, the one
    /// kind Twilio records (peer-to-peer rooms can't be; the account default may be
    /// either), and `RecordParticipantsOnConnect`: `true` for `always`, `false` for
    /// `host`, so that nothing is recorded before a host starts it, whatever the
    /// account's recording defaults. A room that is never recorded is created as
    /// before, with the account's default type.
    pub async fn create_room_recorded(
        &self,
        unique_name: &RoomName,
        status_callback: Option<&Url>,
        recording: RecordingMode,
    ) -> Result<Room, VideoError> {
        let mut form = vec![("UniqueName", unique_name.as_str())];
        match recording {
            RecordingMode::Off => {}
            RecordingMode::Host => {
                form.push(("Type", "group"));
                form.push(("RecordParticipantsOnConnect", "false"));
            }
            RecordingMode::Always => {
                form.push(("Type", "group"));
                form.push(("RecordParticipantsOnConnect", "true"));
            }
        }
        if let Some(callback) = status_callback {
            form.push(("StatusCallback", callback.as_str()));
            // POST is Twilio's default already; saying so pins the method our
            // callback route accepts, whatever the default becomes.
            form.push(("StatusCallbackMethod", "POST"));
        }
        let span = debug_span!("video_create_room", room = %unique_name);
        async {
            let url = self.url(&["v1", "Rooms"])?;
            self.call(OP_CREATE_ROOM, Method::POST, url, Some(&form))
                .await
        }
        .instrument(span)
        .await
    }

    /// `ListRoomParticipant`: `GET /v1/Rooms/{RoomSid}/Participants?Status=connected`,
    /// following `meta.next_page_url` (up to 20 pages). `room_sid` may be the UniqueName
    /// of an in-progress room.
    pub async fn list_participants(&self, room_sid: &str) -> Result<Vec<Participant>, VideoError> {
        let span = debug_span!("video_list_participants", room = %room_sid);
        async { self.connected_participants(room_sid, None).await }
            .instrument(span)
            .await
    }

    /// `UpdateRoomParticipant`: `POST /v1/Rooms/{RoomSid}/Participants/{Sid}` with
    /// `Status=disconnected`.
    ///
    /// The spec's `{Sid}` is the participant's SID only, so an identity is first
    /// resolved with `ListRoomParticipant?Identity=…&Status=connected` (Twilio lets an
    /// identity be connected once per room); [`VideoError::NotFound`] when it isn't
    /// connected. Usernames are lowercase and SIDs start with `PA`, so the two can't be
    /// confused.
    pub async fn disconnect_participant(
        &self,
        room_sid: &str,
        participant_sid_or_identity: &str,
    ) -> Result<Participant, VideoError> {
        // The identity is a username: not for the logs (the span names the room only).
        let span = debug_span!("video_disconnect_participant", room = %room_sid);
        async {
            let participant_sid = if is_participant_sid(participant_sid_or_identity) {
                participant_sid_or_identity.to_owned()
            } else {
                let identity = participant_sid_or_identity;
                // An empty filter could be ignored and list everyone; and whatever the
                // filter did, only a participant with exactly this identity is removed.
                if identity.is_empty() {
                    return Err(VideoError::NotFound);
                }
                self.connected_participants(room_sid, Some(identity))
                    .await?
                    .into_iter()
                    .find(|p| p.identity.as_deref() == Some(identity))
                    .ok_or(VideoError::NotFound)?
                    .sid
            };
            let url = self.url(&["v1", "Rooms", room_sid, "Participants", &participant_sid])?;
            let form = [("Status", "disconnected")];
            self.call(OP_UPDATE_PARTICIPANT, Method::POST, url, Some(&form))
                .await
        }
        .instrument(span)
        .await
    }

    /// `UpdateRoom`: `POST /v1/Rooms/{Sid}` with `Status=completed`, which disconnects
    /// everyone. `room_sid_or_name` may be the UniqueName of an in-progress room.
    pub async fn complete_room(&self, room_sid_or_name: &str) -> Result<Room, VideoError> {
        let span = debug_span!("video_complete_room", room = %room_sid_or_name);
        async {
            let url = self.url(&["v1", "Rooms", room_sid_or_name])?;
            let form = [("Status", "completed")];
            self.call(OP_UPDATE_ROOM, Method::POST, url, Some(&form))
                .await
        }
        .instrument(span)
        .await
    }

    /// `UpdateRoomRecordingRule`: `POST /v1/Rooms/{RoomSid}/RecordingRules` with
    /// `Rules` a JSON array that includes every track (`record`) or excludes every
    /// track. Twilio replaces the room's rules with these; the answer echoes them.
    pub async fn set_recording_rules(
        &self,
        room_sid: &str,
        record: bool,
    ) -> Result<RecordingRules, VideoError> {
        let span = debug_span!("video_set_recording_rules", room = %room_sid, record);
        async {
            let url = self.url(&["v1", "Rooms", room_sid, "RecordingRules"])?;
            let rules = if record { RECORD_ALL } else { RECORD_NONE };
            let form = [("Rules", rules)];
            self.call(OP_UPDATE_RECORDING_RULES, Method::POST, url, Some(&form))
                .await
        }
        .instrument(span)
        .await
    }

    async fn connected_participants(
        &self,
        room_sid: &str,
        identity: Option<&str>,
    ) -> Result<Vec<Participant>, VideoError> {
        let mut url = self.url(&["v1", "Rooms", room_sid, "Participants"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("Status", "connected");
            if let Some(identity) = identity {
                query.append_pair("Identity", identity);
            }
        }
        self.all_pages::<ParticipantPage>(OP_LIST_PARTICIPANTS, url)
            .await
    }

    /// Every item of a listing, following `meta.next_page_url` (up to 20 pages).
    pub(super) async fn all_pages<P: Page>(
        &self,
        op: &'static str,
        url: Url,
    ) -> Result<Vec<P::Item>, VideoError> {
        match self.pages::<P>(op, url).await? {
            (items, false) => Ok(items),
            (_, true) => Err(VideoError::Decode(anyhow::anyhow!(
                "more than {MAX_PAGES} pages from {op}"
            ))),
        }
    }

    /// The items of a listing's first [`MAX_PAGES`] pages, and whether it has more.
    async fn pages<P: Page>(
        &self,
        op: &'static str,
        url: Url,
    ) -> Result<(Vec<P::Item>, bool), VideoError> {
        let mut items = Vec::new();
        let mut next = Some(url);
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else {
                return Ok((items, false));
            };
            let page: P = self.call(op, Method::GET, url, None).await?;
            let (page_items, meta) = page.into_parts();
            items.extend(page_items);
            let Some(next_url) = meta
                .and_then(|meta| meta.next_page_url)
                .filter(|u| !u.is_empty())
            else {
                continue;
            };
            next = Some(self.next_page(&next_url)?);
        }
        Ok((items, next.is_some()))
    }

    /// Where a listing's `next_page_url` is fetched: its path and query on our base URL.
    /// The next page gets our credentials, so they only ever go where the first page
    /// went, whatever a response (or a proxy) says; and Twilio names its own host in
    /// the link, not the regional edge `TWILIO_VIDEO_BASE_URL` may name (nor a prefix
    /// a proxy in front of it may add).
    fn next_page(&self, next_url: &str) -> Result<Url, VideoError> {
        let given = Url::parse(next_url)
            .map_err(|err| VideoError::Decode(anyhow::Error::new(err).context("next_page_url")))?;
        let segments: Vec<String> = given
            .path_segments()
            .into_iter()
            .flatten()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        if segments.first().map(String::as_str) != Some("v1") {
            return Err(VideoError::Decode(anyhow::anyhow!(
                "next_page_url is not a Video v1 listing"
            )));
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut url = self.url(&segments)?;
        url.set_query(given.query());
        Ok(url)
    }

    /// The base URL with `segments` appended, each percent-encoded: a name can't add
    /// path segments, a query or a fragment.
    pub(super) fn url(&self, segments: &[&str]) -> Result<Url, VideoError> {
        let invalid =
            || VideoError::Connect(anyhow::anyhow!("TWILIO_VIDEO_BASE_URL is not a base URL"));
        let mut url = Url::parse(&self.config.base_url).map_err(|_| invalid())?;
        url.path_segments_mut()
            .map_err(|()| invalid())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// One request, one attempt, one debug line. Neither the URL (it can carry a
    /// username) nor the form nor the body is logged.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        form: Option<&[(&str, &str)]>,
    ) -> Result<T, VideoError> {
        let permit = match self.guard.as_ref().map(Guard::admit).transpose() {
            Ok(permit) => permit,
            Err(rejected) => {
                debug!(op, error = %rejected, "Twilio Video call not made");
                return Err(VideoError::Busy(rejected));
            }
        };
        let started = Instant::now();
        let (reply, result) = self.exchange(method, url, form).await;
        if let Some(permit) = permit {
            permit.finish(!matches!(&result, Err(e) if e.is_service_failure()));
        }
        if let Some(metrics) = &self.metrics {
            // A 404 on a fetch is an answer, not a failure of the API.
            let ok = result.is_ok() || matches!(result, Err(VideoError::NotFound));
            metrics.observe_twilio(Api::Video, op, ok, started.elapsed());
        }
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let http_status = reply.as_ref().map(|r| r.status.as_u16());
        let request_id = reply.as_ref().and_then(|r| r.request_id.as_deref());
        let twilio_code = reply.as_ref().and_then(|r| r.twilio_code);
        match &result {
            Ok(_) => debug!(
                op,
                http_status, request_id, latency_ms, "Twilio Video call ok"
            ),
            Err(err) => {
                // Transport errors are stripped of their URL and decode errors name a
                // field or a type, so the cause chain is safe to log.
                let cause = match err {
                    VideoError::Connect(e) | VideoError::Decode(e) => Some(format!("{e:#}")),
                    _ => None,
                };
                debug!(
                    op,
                    http_status,
                    request_id,
                    twilio_code,
                    latency_ms,
                    error = %err,
                    cause,
                    "Twilio Video call failed"
                );
            }
        }
        result
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        form: Option<&[(&str, &str)]>,
    ) -> (Option<ReplyMeta>, Result<T, VideoError>) {
        let key = self.config.api_key.current();
        let mut request = self.http.request(method, url);
        if let Some(form) = form {
            request = request.form(form);
        }
        let (meta, result) = twilio_http::exchange(request, &key, MAX_BODY_BYTES).await;
        let result = result.map_err(|failure| match failure {
            Failure::Timeout => VideoError::Timeout,
            Failure::Connect(e) => VideoError::Connect(e),
            Failure::Api(status, api) => VideoError::from_api(status, api),
            Failure::Decode(e) => VideoError::Decode(e),
        });
        (meta, result)
    }
}

/// `PA` and 32 hex digits, the spec's pattern for a participant SID.
fn is_participant_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("PA") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// One page of a Video listing: its items and where the next page is.
pub(super) trait Page: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<PageMeta>);
}

/// A listing's page: `$name` holds its items under `$key` (the spec's name for them)
/// and its `meta`.
macro_rules! listing_page {
    ($(#[$doc:meta])* $name:ident, $key:ident: $item:ty) => {
        $(#[$doc])*
        #[derive(serde::Deserialize)]
        struct $name {
            #[serde(default)]
            $key: Vec<$item>,
            meta: Option<$crate::video::rest::PageMeta>,
        }

        impl $crate::video::rest::Page for $name {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<$crate::video::rest::PageMeta>) {
                (self.$key, self.meta)
            }
        }
    };
}
pub(super) use listing_page;

listing_page!(
    /// `ListRoomParticipantResponse`.
    ParticipantPage, participants: Participant
);
listing_page!(
    /// `ListRoomResponse`.
    RoomPage, rooms: Room
);

#[derive(Deserialize)]
pub(super) struct PageMeta {
    next_page_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use serde_json::{Value, json};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

    use super::*;
    use crate::twilio::verify::http_client;

    const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
    const KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
    const KEY_SECRET: &str = "s3cr3t-api-key-value-not-for-logs";
    const ROOM_SID: &str = "RM0123456789abcdef0123456789abcdef";
    const PA_ALICE: &str = "PA0123456789abcdef0123456789abcdef";
    const PA_BOB: &str = "PAfedcba9876543210fedcba9876543210";
    const PA_CAROL: &str = "PA00000000000000000000000000000001";
    const ROOM_NAME: &str = "standup";
    const ROOM_PATH: &str = "/v1/Rooms/RM0123456789abcdef0123456789abcdef";
    const PARTICIPANTS_PATH: &str = "/v1/Rooms/RM0123456789abcdef0123456789abcdef/Participants";
    const CALLBACK: &str = "https://gate.example.com/twilio/video/status?room=standup";

    fn config(base_url: &str) -> VideoConfig {
        VideoConfig {
            base_url: base_url.to_owned(),
            account_sid: ACCOUNT_SID.to_owned(),
            api_key: crate::twilio::credentials::ApiKeys::fixed(KEY_SID, KEY_SECRET),
        }
    }

    fn client_with_timeout(base_url: &str, timeout: Duration) -> VideoClient {
        VideoClient::new(http_client(timeout), config(base_url))
    }

    fn client(server: &MockServer) -> VideoClient {
        client_with_timeout(&server.uri(), Duration::from_secs(5))
    }

    fn room_name() -> RoomName {
        RoomName::parse(ROOM_NAME).unwrap()
    }

    /// A `video.v1.room`, shaped like the spec's examples.
    fn room_json(status: &str) -> Value {
        json!({
            "account_sid": ACCOUNT_SID,
            "date_created": "2025-05-30T20:00:00Z",
            "date_updated": "2025-05-30T20:00:00Z",
            "status": status,
            "type": "group",
            "sid": ROOM_SID,
            "enable_turn": true,
            "unique_name": ROOM_NAME,
            "max_participants": 50,
            "max_participant_duration": 14400,
            "max_concurrent_published_tracks": 170,
            "duration": if status == "completed" { json!(1800) } else { Value::Null },
            "status_callback_method": "POST",
            "status_callback": CALLBACK,
            "record_participants_on_connect": false,
            "video_codecs": ["VP8"],
            "audio_only": false,
            "media_region": "us1",
            "empty_room_timeout": 5,
            "unused_room_timeout": 5,
            "end_time": if status == "completed" { json!("2025-05-30T20:30:00Z") } else { Value::Null },
            "large_room": false,
            "url": format!("https://video.twilio.com{ROOM_PATH}"),
            "links": {
                "participants": format!("https://video.twilio.com{PARTICIPANTS_PATH}"),
                "recordings": format!("https://video.twilio.com{ROOM_PATH}/Recordings"),
                "transcriptions": format!("https://video.twilio.com{ROOM_PATH}/Transcriptions"),
                "recording_rules": format!("https://video.twilio.com{ROOM_PATH}/RecordingRules")
            }
        })
    }

    /// A `video.v1.room.room_participant`, shaped like the spec's examples.
    fn participant_json(sid: &str, identity: &str, status: &str) -> Value {
        let gone = status == "disconnected";
        let url = format!("https://video.twilio.com{PARTICIPANTS_PATH}/{sid}");
        json!({
            "account_sid": ACCOUNT_SID,
            "room_sid": ROOM_SID,
            "date_created": "2025-05-30T20:00:00Z",
            "date_updated": "2025-05-30T20:01:00Z",
            "start_time": "2025-05-30T20:00:00Z",
            "end_time": if gone { json!("2025-05-30T20:01:00Z") } else { Value::Null },
            "sid": sid,
            "identity": identity,
            "status": status,
            "url": url,
            "duration": if gone { json!(60) } else { Value::Null },
            "links": {
                "published_tracks": format!("{url}/PublishedTracks"),
                "subscribed_tracks": format!("{url}/SubscribedTracks"),
                "subscribe_rules": format!("{url}/SubscribeRules"),
                "anonymize": format!("{url}/Anonymize")
            }
        })
    }

    /// A `ListRoomParticipantResponse` page.
    fn page_json(participants: Vec<Value>, page: u32, next_page_url: Option<String>) -> Value {
        let this = format!(
            "https://video.twilio.com{PARTICIPANTS_PATH}?Status=connected&PageSize=50&Page={page}"
        );
        json!({
            "participants": participants,
            "meta": {
                "page": page,
                "page_size": 50,
                "first_page_url": format!("https://video.twilio.com{PARTICIPANTS_PATH}?Status=connected&PageSize=50&Page=0"),
                "previous_page_url": Value::Null,
                "url": this,
                "next_page_url": next_page_url,
                "key": "participants"
            }
        })
    }

    fn twilio_error(code: u32, status: u16, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        }))
    }

    fn expected_authorization() -> String {
        let credentials = format!("{KEY_SID}:{KEY_SECRET}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
        let mut url = Url::parse("http://form.invalid/").unwrap();
        url.set_query(Some(std::str::from_utf8(body).ok()?));
        Some(url.query_pairs().into_owned().collect())
    }

    /// A form body whose decoded pairs are exactly these, in this order.
    struct FormBody(Vec<(&'static str, &'static str)>);

    impl Match for FormBody {
        fn matches(&self, request: &Request) -> bool {
            request
                .headers
                .get("content-type")
                .is_some_and(|v| v == "application/x-www-form-urlencoded")
                && form_pairs(&request.body).is_some_and(|got| got == pairs(&self.0))
        }
    }

    /// A query whose decoded pairs are exactly these, in this order, and no body.
    struct ExactGet(Vec<(&'static str, &'static str)>);

    impl Match for ExactGet {
        fn matches(&self, request: &Request) -> bool {
            let got: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
            got == pairs(&self.0)
                && request.body.is_empty()
                && request.headers.get("content-type").is_none()
        }
    }

    fn authorized() -> impl Match {
        header("authorization", expected_authorization().as_str())
    }

    #[tokio::test]
    async fn fetch_room_gets_it_by_name_and_decodes_it() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/standup"))
            .and(authorized())
            .and(ExactGet(vec![]))
            .respond_with(ResponseTemplate::new(200).set_body_json(room_json("in-progress")))
            .expect(1)
            .mount(&server)
            .await;

        let room = client(&server)
            .fetch_room(ROOM_NAME)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(
            room,
            Room {
                sid: ROOM_SID.to_owned(),
                unique_name: Some(ROOM_NAME.to_owned()),
                status: RoomStatus::InProgress,
                date_created: Some("2025-05-30T20:00:00Z".to_owned()),
                end_time: None,
                duration: None,
                status_callback: Some(CALLBACK.to_owned()),
            }
        );
    }

    #[tokio::test]
    async fn fetch_room_404_is_none() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(ROOM_PATH))
            .respond_with(twilio_error(
                20404,
                404,
                "The requested resource /Rooms/RM… was not found",
            ))
            .expect(1)
            .mount(&server)
            .await;

        assert_eq!(client(&server).fetch_room(ROOM_SID).await.unwrap(), None);
    }

    #[tokio::test]
    async fn fetch_room_bare_404_is_none_too() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/standup"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;

        assert_eq!(client(&server).fetch_room(ROOM_NAME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn names_are_one_percent_encoded_path_segment() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/..%2Fx%3Fy=1%23z"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;

        assert_eq!(
            client(&server).fetch_room("../x?y=1#z").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn create_room_posts_exactly_the_unique_name() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms"))
            .and(authorized())
            .and(FormBody(vec![("UniqueName", ROOM_NAME)]))
            .respond_with(ResponseTemplate::new(201).set_body_json(room_json("in-progress")))
            .expect(1)
            .mount(&server)
            .await;

        let room = client(&server)
            .create_room(&room_name(), None)
            .await
            .unwrap();

        assert_eq!(room.sid, ROOM_SID);
        assert_eq!(room.status, RoomStatus::InProgress);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn create_room_with_a_status_callback_asks_for_post() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms"))
            .and(authorized())
            .and(FormBody(vec![
                ("UniqueName", ROOM_NAME),
                ("StatusCallback", CALLBACK),
                ("StatusCallbackMethod", "POST"),
            ]))
            .respond_with(ResponseTemplate::new(201).set_body_json(room_json("in-progress")))
            .expect(1)
            .mount(&server)
            .await;
        let callback = Url::parse(CALLBACK).unwrap();

        let room = client(&server)
            .create_room(&room_name(), Some(&callback))
            .await
            .unwrap();

        assert_eq!(room.unique_name.as_deref(), Some(ROOM_NAME));
    }

    #[tokio::test]
    async fn rooms_that_may_be_recorded_are_group_rooms_recorded_only_as_set() {
        for (mode, on_connect) in [
            (RecordingMode::Host, "false"),
            (RecordingMode::Always, "true"),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/Rooms"))
                .and(authorized())
                .and(FormBody(vec![
                    ("UniqueName", ROOM_NAME),
                    ("Type", "group"),
                    ("RecordParticipantsOnConnect", on_connect),
                ]))
                .respond_with(ResponseTemplate::new(201).set_body_json(room_json("in-progress")))
                .expect(1)
                .mount(&server)
                .await;
            let room = client(&server)
                .create_room_recorded(&room_name(), None, mode)
                .await
                .unwrap();
            assert_eq!(room.sid, ROOM_SID, "{mode}");
        }
    }

    fn rules_json(rule_type: &str) -> Value {
        // The spec's example answer for UpdateRoomRecordingRule.
        json!({
            "room_sid": ROOM_SID,
            "date_created": "2015-07-30T20:00:00Z",
            "date_updated": "2015-07-30T20:00:00Z",
            "rules": [{"type": rule_type, "all": true}]
        })
    }

    #[tokio::test]
    async fn recording_rules_include_or_exclude_every_track() {
        for (record, rules, rule_type) in [
            (true, r#"[{"type":"include","all":true}]"#, "include"),
            (false, r#"[{"type":"exclude","all":true}]"#, "exclude"),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(format!("/v1/Rooms/{ROOM_SID}/RecordingRules")))
                .and(authorized())
                .and(FormBody(vec![("Rules", rules)]))
                .respond_with(ResponseTemplate::new(200).set_body_json(rules_json(rule_type)))
                .expect(1)
                .mount(&server)
                .await;
            let answer = client(&server)
                .set_recording_rules(ROOM_SID, record)
                .await
                .unwrap();
            assert_eq!(answer.room_sid.as_deref(), Some(ROOM_SID));
            assert_eq!(answer.rules.len(), 1);
            assert_eq!(answer.rules[0].rule_type, rule_type);
            assert_eq!(answer.rules[0].all, Some(true));
        }
    }

    #[tokio::test]
    async fn invalid_recording_rules_are_an_api_error_with_its_code() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v1/Rooms/{ROOM_SID}/RecordingRules")))
            .respond_with(twilio_error(53120, 400, "Invalid Recording Rule(s)"))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .set_recording_rules(ROOM_SID, true)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, VideoError::Api(api) if api.code == Some(53120) && api.status == 400),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn create_room_53113_is_room_exists() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms"))
            .respond_with(twilio_error(53113, 400, "Room exists"))
            .expect(1)
            .mount(&server)
            .await;

        let err = client(&server)
            .create_room(&room_name(), None)
            .await
            .unwrap_err();

        assert!(matches!(err, VideoError::RoomExists), "{err:?}");
    }

    #[tokio::test]
    async fn list_participants_follows_next_page_url() {
        let server = MockServer::start().await;
        let next = format!(
            "{}{PARTICIPANTS_PATH}?Status=connected&PageSize=50&Page=1&PageToken=PAfedcba",
            server.uri()
        );
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .and(authorized())
            .and(ExactGet(vec![("Status", "connected")]))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![
                    participant_json(PA_ALICE, "alice", "connected"),
                    participant_json(PA_BOB, "bob", "connected"),
                ],
                0,
                Some(next),
            )))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .and(authorized())
            .and(ExactGet(vec![
                ("Status", "connected"),
                ("PageSize", "50"),
                ("Page", "1"),
                ("PageToken", "PAfedcba"),
            ]))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_CAROL, "carol", "reconnecting")],
                1,
                None,
            )))
            .expect(1)
            .mount(&server)
            .await;

        let participants = client(&server).list_participants(ROOM_SID).await.unwrap();

        let summary: Vec<_> = participants
            .iter()
            .map(|p| (p.sid.as_str(), p.identity.as_deref(), p.status))
            .collect();
        assert_eq!(
            summary,
            [
                (PA_ALICE, Some("alice"), ParticipantStatus::Connected),
                (PA_BOB, Some("bob"), ParticipantStatus::Connected),
                (PA_CAROL, Some("carol"), ParticipantStatus::Reconnecting),
            ]
        );
        assert_eq!(participants[0].room_sid.as_deref(), Some(ROOM_SID));
        assert_eq!(
            participants[0].start_time.as_deref(),
            Some("2025-05-30T20:00:00Z")
        );
        assert_eq!(participants[0].duration, None);
    }

    #[tokio::test]
    async fn an_empty_room_lists_nobody() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/standup/Participants"))
            .and(ExactGet(vec![("Status", "connected")]))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(vec![], 0, None)))
            .expect(1)
            .mount(&server)
            .await;

        assert!(
            client(&server)
                .list_participants(ROOM_NAME)
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// A next page named on another host (Twilio's own, where the base URL is a
    /// regional edge; or anyone's) is fetched from ours, path and query kept: our
    /// credentials never go anywhere else.
    #[tokio::test]
    async fn a_next_page_is_fetched_from_our_base_url_whatever_host_it_names() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .and(wiremock::matchers::query_param("Page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_BOB, "bob", "connected")],
                1,
                None,
            )))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_ALICE, "alice", "connected")],
                0,
                Some(format!(
                    "https://video.twilio.com{PARTICIPANTS_PATH}?Status=connected&Page=1"
                )),
            )))
            .expect(1)
            .mount(&server)
            .await;

        let found = client(&server).list_participants(ROOM_SID).await.unwrap();
        assert_eq!(found.len(), 2);

        // Not a Video listing at all: not followed.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![],
                0,
                Some("https://collector.example/steal?Page=1".into()),
            )))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .list_participants(ROOM_SID)
            .await
            .unwrap_err();
        assert!(matches!(err, VideoError::Decode(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_next_page_loop_stops_at_the_cap() {
        let server = MockServer::start().await;
        let itself = format!("{}{PARTICIPANTS_PATH}?Status=connected", server.uri());
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_ALICE, "alice", "connected")],
                0,
                Some(itself),
            )))
            .expect(MAX_PAGES as u64)
            .mount(&server)
            .await;

        let err = client(&server)
            .list_participants(ROOM_SID)
            .await
            .unwrap_err();

        assert!(matches!(err, VideoError::Decode(_)), "{err:?}");
    }

    /// `video.v1.room.room_recording_rule.rules` is nullable in the spec.
    #[test]
    fn recording_rules_may_be_null() {
        let rules: RecordingRules =
            serde_json::from_value(json!({ "room_sid": ROOM_SID, "rules": null })).unwrap();
        assert!(rules.rules.is_empty());
        let rules: RecordingRules =
            serde_json::from_value(json!({ "room_sid": ROOM_SID })).unwrap();
        assert!(rules.rules.is_empty());
    }

    /// Ended rooms are many: past the cap, the pages listed so far come back (the
    /// newest rooms), with word that there were more.
    #[tokio::test]
    async fn ended_rooms_past_the_cap_are_the_pages_listed_and_a_flag() {
        let server = MockServer::start().await;
        let itself = format!("{}/v1/Rooms?Status=completed&Page=1", server.uri());
        Mock::given(method("GET"))
            .and(path("/v1/Rooms"))
            .and(authorized())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "rooms": [room_json("completed")],
                "meta": { "page": 0, "page_size": 100, "next_page_url": itself, "key": "rooms" }
            })))
            .expect(MAX_PAGES as u64)
            .mount(&server)
            .await;

        let (rooms, more) = client(&server)
            .list_ended_rooms(std::time::SystemTime::now())
            .await
            .unwrap();

        assert!(more);
        assert_eq!(rooms.len(), MAX_PAGES);
        assert_eq!(rooms[0].status_callback.as_deref(), Some(CALLBACK));
        let asked = &server.received_requests().await.unwrap()[0];
        let query: Vec<(String, String)> = asked.url.query_pairs().into_owned().collect();
        assert_eq!(query[0], ("Status".into(), "completed".into()));
        assert_eq!(query[1].0, "DateCreatedAfter");
        assert_eq!(query[2], ("PageSize".into(), "100".into()));
    }

    #[tokio::test]
    async fn disconnect_by_sid_posts_status_disconnected() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("{PARTICIPANTS_PATH}/{PA_ALICE}")))
            .and(authorized())
            .and(FormBody(vec![("Status", "disconnected")]))
            .respond_with(ResponseTemplate::new(202).set_body_json(participant_json(
                PA_ALICE,
                "alice",
                "disconnected",
            )))
            .expect(1)
            .mount(&server)
            .await;

        let gone = client(&server)
            .disconnect_participant(ROOM_SID, PA_ALICE)
            .await
            .unwrap();

        assert_eq!(gone.status, ParticipantStatus::Disconnected);
        assert_eq!(gone.duration, Some(60));
        assert_eq!(gone.end_time.as_deref(), Some("2025-05-30T20:01:00Z"));
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn disconnect_by_identity_resolves_the_sid_first() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/standup/Participants"))
            .and(authorized())
            .and(ExactGet(vec![
                ("Status", "connected"),
                ("Identity", "alice"),
            ]))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_ALICE, "alice", "connected")],
                0,
                None,
            )))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/v1/Rooms/standup/Participants/{PA_ALICE}")))
            .and(authorized())
            .and(FormBody(vec![("Status", "disconnected")]))
            .respond_with(ResponseTemplate::new(202).set_body_json(participant_json(
                PA_ALICE,
                "alice",
                "disconnected",
            )))
            .expect(1)
            .mount(&server)
            .await;

        let gone = client(&server)
            .disconnect_participant(ROOM_NAME, "alice")
            .await
            .unwrap();

        assert_eq!(gone.sid, PA_ALICE);
        assert_eq!(gone.identity.as_deref(), Some("alice"));
    }

    #[tokio::test]
    async fn disconnect_of_someone_not_connected_is_not_found_and_posts_nothing() {
        let server = MockServer::start().await;
        // Also what happens if the filter were ignored: someone else is listed.
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_BOB, "bob", "connected")],
                0,
                None,
            )))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);

        let err = client
            .disconnect_participant(ROOM_SID, "alice")
            .await
            .unwrap_err();
        assert!(matches!(err, VideoError::NotFound), "{err:?}");

        let err = client
            .disconnect_participant(ROOM_SID, "")
            .await
            .unwrap_err();
        assert!(matches!(err, VideoError::NotFound), "{err:?}");

        let requests = server.received_requests().await.unwrap();
        assert!(requests.iter().all(|r| r.method == Method::GET));
    }

    #[tokio::test]
    async fn complete_room_posts_status_completed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(ROOM_PATH))
            .and(authorized())
            .and(FormBody(vec![("Status", "completed")]))
            .respond_with(ResponseTemplate::new(202).set_body_json(room_json("completed")))
            .expect(1)
            .mount(&server)
            .await;

        let room = client(&server).complete_room(ROOM_SID).await.unwrap();

        assert_eq!(room.status, RoomStatus::Completed);
        assert_eq!(room.duration, Some(1800));
        assert_eq!(room.end_time.as_deref(), Some("2025-05-30T20:30:00Z"));
    }

    #[tokio::test]
    async fn complete_room_by_name_of_an_ended_room_is_not_found() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms/standup"))
            .and(FormBody(vec![("Status", "completed")]))
            .respond_with(twilio_error(53106, 404, "Room not found"))
            .expect(1)
            .mount(&server)
            .await;

        let err = client(&server).complete_room(ROOM_NAME).await.unwrap_err();

        assert!(matches!(err, VideoError::NotFound), "{err:?}");
    }

    #[tokio::test]
    async fn other_twilio_errors_are_api_errors_with_code_and_status() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(ROOM_PATH))
            .respond_with(twilio_error(53112, 400, "Status is invalid"))
            .expect(1)
            .mount(&server)
            .await;

        let err = client(&server).complete_room(ROOM_SID).await.unwrap_err();

        assert!(
            matches!(&err, VideoError::Api(api) if api.code == Some(53112) && api.status == 400),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn html_500_is_an_api_error_with_its_status() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(
                ResponseTemplate::new(500)
                    .insert_header("content-type", "text/html")
                    .set_body_string(
                        "<html><body><h1>500 Internal Server Error</h1></body></html>",
                    ),
            )
            .expect(1)
            .mount(&server)
            .await;

        let err = client(&server)
            .list_participants(ROOM_SID)
            .await
            .unwrap_err();

        assert!(
            matches!(&err, VideoError::Api(api) if api.code.is_none() && api.status == 500),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_post_is_sent_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms"))
            .respond_with(ResponseTemplate::new(503).set_body_string("upstream failure"))
            .expect(1)
            .mount(&server)
            .await;

        let err = client(&server)
            .create_room(&room_name(), None)
            .await
            .unwrap_err();

        assert!(
            matches!(&err, VideoError::Api(api) if api.status == 503),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn slow_answer_is_a_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(ROOM_PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(room_json("in-progress"))
                    .set_delay(Duration::from_secs(3)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client_with_timeout(&server.uri(), Duration::from_millis(200));

        let err = client.fetch_room(ROOM_SID).await.unwrap_err();

        assert!(matches!(err, VideoError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn closed_port_is_a_connect_error_without_the_url() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let client =
            client_with_timeout(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5));

        let err = client
            .disconnect_participant(ROOM_SID, "alice")
            .await
            .unwrap_err();

        assert!(matches!(err, VideoError::Connect(_)), "{err:?}");
        let debug = format!("{err:?}");
        let shown = format!("{debug} {:#}", anyhow::Error::new(err));
        assert!(!shown.contains("alice"), "{shown}");
    }

    #[tokio::test]
    async fn garbage_or_incomplete_success_bodies_are_decode_errors() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(ROOM_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>surprise</html>"))
            .mount(&server)
            .await;
        let mut no_sid = room_json("in-progress");
        no_sid["sid"] = Value::Null;
        Mock::given(method("POST"))
            .and(path("/v1/Rooms"))
            .respond_with(ResponseTemplate::new(201).set_body_json(no_sid))
            .mount(&server)
            .await;
        let client = client(&server);

        let fetched = client.fetch_room(ROOM_SID).await.unwrap_err();
        let created = client.create_room(&room_name(), None).await.unwrap_err();

        assert!(matches!(fetched, VideoError::Decode(_)), "{fetched:?}");
        assert!(matches!(created, VideoError::Decode(_)), "{created:?}");
    }

    #[tokio::test]
    async fn unknown_status_values_still_decode() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(ROOM_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(room_json("paused")))
            .mount(&server)
            .await;

        let room = client(&server).fetch_room(ROOM_SID).await.unwrap().unwrap();

        assert_eq!(room.status, RoomStatus::Unknown);
    }

    #[tokio::test]
    async fn trailing_slash_or_path_prefix_in_base_url() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/edge/v1/Rooms/standup"))
            .respond_with(ResponseTemplate::new(200).set_body_json(room_json("in-progress")))
            .expect(2)
            .mount(&server)
            .await;

        for base in [
            format!("{}/edge/", server.uri()),
            format!("{}/edge", server.uri()),
        ] {
            let client = client_with_timeout(&base, Duration::from_secs(5));
            assert!(client.fetch_room(ROOM_NAME).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn an_unusable_base_url_is_an_error_not_a_panic() {
        let client = client_with_timeout("not a url", Duration::from_secs(5));

        let err = client.fetch_room(ROOM_NAME).await.unwrap_err();

        assert!(matches!(err, VideoError::Connect(_)), "{err:?}");
    }

    #[test]
    fn participant_sids_are_told_from_identities() {
        assert!(is_participant_sid(PA_ALICE));
        for not_a_sid in [
            "alice",
            "pa0123456789abcdef0123456789abcdef",
            "PA0123456789abcdef0123456789abcde",
            "PA0123456789abcdef0123456789abcdeg",
            "RM0123456789abcdef0123456789abcdef",
            "",
        ] {
            assert!(!is_participant_sid(not_a_sid), "{not_a_sid}");
        }
    }

    #[test]
    fn config_and_client_debug_redact_the_secret() {
        let shown = format!("{:?}", config(DEFAULT_BASE_URL));
        assert!(!shown.contains(KEY_SECRET), "{shown}");
        assert!(
            shown.contains(KEY_SID) && shown.contains("[REDACTED]"),
            "{shown}"
        );
        let client = VideoClient::new(reqwest::Client::new(), config(DEFAULT_BASE_URL));
        assert!(!format!("{client:?}").contains(KEY_SECRET));
    }

    #[tokio::test]
    async fn logs_carry_operation_status_and_latency_never_credentials_or_identities() {
        let (captured, _guard) = crate::test_support::capture_logs();

        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PARTICIPANTS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
                vec![participant_json(PA_ALICE, "alice", "connected")],
                0,
                None,
            )))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{PARTICIPANTS_PATH}/{PA_ALICE}")))
            .respond_with(twilio_error(20003, 401, "Authenticate as alice failed"))
            .mount(&server)
            .await;
        let client = client(&server);
        let exercise = || async {
            client
                .disconnect_participant(ROOM_SID, "alice")
                .await
                .unwrap_err();
        };

        // See the same test in verify::twilio: the first round registers every
        // callsite, the rebuild makes sure our subscriber's interest is what counts.
        exercise().await;
        tracing::callsite::rebuild_interest_cache();
        captured.clear();
        exercise().await;

        let logs = captured.text();
        for expected in [
            OP_LIST_PARTICIPANTS,
            OP_UPDATE_PARTICIPANT,
            "http_status=200",
            "http_status=401",
            "twilio_code=20003",
            "latency_ms",
            ROOM_SID,
        ] {
            assert!(logs.contains(expected), "{expected} missing from:\n{logs}");
        }
        let credentials = expected_authorization();
        for secret in [KEY_SECRET, credentials.as_str(), "Basic ", "alice"] {
            assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
        }
    }
}
