//! Twilio Video's recordings and compositions, for the recordings pipeline
//! (`crate::recordings::pipeline`): list a room's track recordings, compose them into
//! one mp4, find the composed file, and delete Twilio's copies once ours is stored.
//!
//! Paths, parameters and fields follow `twilio_video_v1.json` (operation ids below are
//! the spec's), except `GET /v1/Compositions/{Sid}/Media`, which Twilio documents but
//! the spec leaves out: it answers `302` with `Location` (and a JSON body
//! `{"redirect_to": URL}`) to a short-lived signed URL, or `404` while the media is
//! still being processed.

use std::time::{Duration, Instant};

use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{Instrument, debug, debug_span};

use super::rest::{VideoClient, VideoError};
use crate::metrics::Api;
use crate::verify::TwilioApiError;

const OP_LIST_ROOM_RECORDINGS: &str = "ListRoomRecording";
const OP_LIST_COMPOSITIONS: &str = "ListComposition";
const OP_CREATE_COMPOSITION: &str = "CreateComposition";
const OP_FETCH_COMPOSITION: &str = "FetchComposition";
const OP_DELETE_COMPOSITION: &str = "DeleteComposition";
const OP_DELETE_RECORDING: &str = "DeleteRecording";
const OP_COMPOSITION_MEDIA: &str = "FetchCompositionMedia";

/// Every participant's video, tiled: the layout Twilio's docs give for "a grid of
/// everyone".
pub const GRID_LAYOUT: &str = r#"{"grid":{"video_sources":["*"]}}"#;

/// A redirect answer is a few hundred bytes; more is not Twilio.
const MAX_MEDIA_ANSWER: usize = 16 * 1024;

/// `composition_enum_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompositionStatus {
    Enqueued,
    Processing,
    Completed,
    Deleted,
    Failed,
    /// See [`super::RoomStatus::Unknown`].
    #[serde(other)]
    Unknown,
}

/// The subset of `video.v1.composition` the pipeline uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Composition {
    /// `CJ…`.
    pub sid: String,
    pub room_sid: Option<String>,
    pub status: CompositionStatus,
    /// Bytes of the composed file, once completed.
    pub size: Option<u64>,
    /// Seconds.
    pub duration: Option<u64>,
}

/// `room_recording_enum_status`; only whether a recording is still being written
/// matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStatus {
    Processing,
    Completed,
    Absent,
    Failed,
    Deleted,
    #[serde(other)]
    Unknown,
}

/// The subset of `video.v1.room.room_recording` the pipeline uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrackRecording {
    /// `RT…`.
    pub sid: String,
    pub status: RecordingStatus,
}

super::rest::listing_page!(
    /// `ListRoomRecordingResponse`.
    RecordingPage, recordings: TrackRecording
);
super::rest::listing_page!(
    /// `ListCompositionResponse`.
    CompositionPage, compositions: Composition
);

impl VideoClient {
    /// `ListRoomRecording`: `GET /v1/Rooms/{RoomSid}/Recordings`, every page.
    pub async fn room_recordings(&self, room_sid: &str) -> Result<Vec<TrackRecording>, VideoError> {
        let span = debug_span!("video_room_recordings", room = %room_sid);
        async {
            let mut url = self.url(&["v1", "Rooms", room_sid, "Recordings"])?;
            url.query_pairs_mut().append_pair("PageSize", "100");
            self.all_pages::<RecordingPage>(OP_LIST_ROOM_RECORDINGS, url)
                .await
        }
        .instrument(span)
        .await
    }

    /// `ListComposition`: `GET /v1/Compositions?RoomSid=…`, every page: what a retry
    /// adopts instead of composing the room twice.
    pub async fn room_compositions(&self, room_sid: &str) -> Result<Vec<Composition>, VideoError> {
        let span = debug_span!("video_room_compositions", room = %room_sid);
        async {
            let mut url = self.url(&["v1", "Compositions"])?;
            url.query_pairs_mut()
                .append_pair("RoomSid", room_sid)
                .append_pair("PageSize", "100");
            self.all_pages::<CompositionPage>(OP_LIST_COMPOSITIONS, url)
                .await
        }
        .instrument(span)
        .await
    }

    /// `CreateComposition`: `POST /v1/Compositions` with the room, every audio track
    /// (`AudioSources=*`), every video track in a grid, `Format=mp4`, and a status
    /// callback when given.
    pub async fn create_composition(
        &self,
        room_sid: &str,
        status_callback: Option<&Url>,
    ) -> Result<Composition, VideoError> {
        let mut form = vec![
            ("RoomSid", room_sid),
            ("AudioSources", "*"),
            ("VideoLayout", GRID_LAYOUT),
            ("Format", "mp4"),
        ];
        if let Some(callback) = status_callback {
            form.push(("StatusCallback", callback.as_str()));
            form.push(("StatusCallbackMethod", "POST"));
        }
        let span = debug_span!("video_create_composition", room = %room_sid);
        async {
            let url = self.url(&["v1", "Compositions"])?;
            self.call(OP_CREATE_COMPOSITION, Method::POST, url, Some(&form))
                .await
        }
        .instrument(span)
        .await
    }

    /// `FetchComposition`: `GET /v1/Compositions/{Sid}`; `None` when Twilio has none.
    pub async fn fetch_composition(&self, sid: &str) -> Result<Option<Composition>, VideoError> {
        let url = self.url(&["v1", "Compositions", sid])?;
        match self
            .call(OP_FETCH_COMPOSITION, Method::GET, url, None)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(VideoError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DeleteComposition`: `DELETE /v1/Compositions/{Sid}`. Already gone counts as done.
    pub async fn delete_composition(&self, sid: &str) -> Result<(), VideoError> {
        let url = self.url(&["v1", "Compositions", sid])?;
        gone_is_done(
            self.call(OP_DELETE_COMPOSITION, Method::DELETE, url, None)
                .await,
        )
    }

    /// `DeleteRecording`: `DELETE /v1/Recordings/{Sid}`. Already gone counts as done.
    pub async fn delete_recording(&self, sid: &str) -> Result<(), VideoError> {
        let url = self.url(&["v1", "Recordings", sid])?;
        gone_is_done(
            self.call(OP_DELETE_RECORDING, Method::DELETE, url, None)
                .await,
        )
    }

    /// `GET /v1/Compositions/{Sid}/Media?Ttl=…`: the signed URL of the composed file,
    /// valid `ttl`. [`VideoError::NotFound`] while Twilio is still processing it.
    ///
    /// The URL is a bearer secret (anyone holding it can download the recording until
    /// it expires): it comes back as a [`SecretString`], is never logged, and must be
    /// fetched without our credentials.
    pub async fn composition_media_url(
        &self,
        sid: &str,
        ttl: Duration,
    ) -> Result<SecretString, VideoError> {
        let mut url = self.url(&["v1", "Compositions", sid, "Media"])?;
        url.query_pairs_mut()
            .append_pair("Ttl", &ttl.as_secs().clamp(1, 3600).to_string());
        let permit = match self.guard.as_ref().map(crate::twilio::guard::Guard::admit) {
            Some(Err(rejected)) => return Err(VideoError::Busy(rejected)),
            Some(Ok(permit)) => Some(permit),
            None => None,
        };
        let started = Instant::now();
        let result = self.media_redirect(url).await;
        if let Some(permit) = permit {
            permit.finish(!matches!(
                &result,
                Err(VideoError::Timeout | VideoError::Connect(_))
            ));
        }
        if let Some(metrics) = &self.metrics {
            let ok = result.is_ok() || matches!(result, Err(VideoError::NotFound));
            metrics.observe_twilio(Api::Video, OP_COMPOSITION_MEDIA, ok, started.elapsed());
        }
        if let Err(e) = &result {
            debug!(op = OP_COMPOSITION_MEDIA, error = %e, "Twilio Video call failed");
        }
        result
    }

    async fn media_redirect(&self, url: Url) -> Result<SecretString, VideoError> {
        let key = self.config.api_key.current();
        let sent = self
            .http
            .get(url)
            .basic_auth(&key.sid, Some(key.secret.expose_secret()))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(VideoError::Timeout),
            Err(e) => return Err(VideoError::Connect(anyhow::Error::new(e.without_url()))),
        };
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_small(response).await;
        if status.is_redirection() || status == StatusCode::OK {
            #[derive(Deserialize)]
            struct Redirect {
                redirect_to: String,
            }
            let target = location
                .or_else(|| {
                    serde_json::from_slice::<Redirect>(&body)
                        .ok()
                        .map(|r| r.redirect_to)
                })
                .ok_or_else(|| VideoError::Decode(anyhow::anyhow!("media answer without a URL")))?;
            // Only an absolute https (or, for tests, http) URL is something to fetch.
            let parsed = Url::parse(&target)
                .map_err(|_| VideoError::Decode(anyhow::anyhow!("media URL is not a URL")))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(VideoError::Decode(anyhow::anyhow!(
                    "media URL is not http(s)"
                )));
            }
            return Ok(SecretString::from(target));
        }
        let api = TwilioApiError::from_body(status.as_u16(), &body);
        Err(match api.code {
            Some(20404) => VideoError::NotFound,
            _ if status == StatusCode::NOT_FOUND => VideoError::NotFound,
            _ => VideoError::Api(api),
        })
    }
}

/// A DELETE of something already gone has done its job.
fn gone_is_done(result: Result<(), VideoError>) -> Result<(), VideoError> {
    match result {
        Err(VideoError::NotFound) => Ok(()),
        other => other,
    }
}

/// At most [`MAX_MEDIA_ANSWER`] bytes of an answer; errors read as empty.
async fn read_small(mut response: reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_MEDIA_ANSWER.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_MEDIA_ANSWER {
            break;
        }
    }
    bytes
}
