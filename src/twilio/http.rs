//! What every Twilio REST call shares: API Key auth, one attempt, a capped body,
//! Twilio's error body decoded, the JSON decoded. Each client maps a [`Failure`] to
//! its own error type.

use reqwest::{RequestBuilder, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use crate::twilio::credentials::ApiKey;
use crate::verify::TwilioApiError;

/// What is worth logging about an HTTP answer, whatever its body turns out to be.
pub(crate) struct ReplyMeta {
    pub(crate) status: StatusCode,
    /// `Twilio-Request-Id`, what Twilio support asks for.
    pub(crate) request_id: Option<String>,
    /// The code of an error body, before the client folds it into its own variant.
    pub(crate) twilio_code: Option<u32>,
}

/// Why a call produced no usable answer.
pub(crate) enum Failure {
    /// No answer in time, or the body stopped arriving.
    Timeout,
    /// No answer at all. The URL is stripped from the cause: it can name a participant.
    Connect(anyhow::Error),
    /// Twilio answered with an error status and this body.
    Api(StatusCode, TwilioApiError),
    /// A success whose body we could not read or decode.
    Decode(anyhow::Error),
}

/// Send `request` once with `key`'s Basic auth and decode the answer, reading at most
/// `limit` bytes of body. Never retries: a Verify start must not send two SMS.
pub(crate) async fn exchange<T: DeserializeOwned>(
    request: RequestBuilder,
    key: &ApiKey,
    limit: usize,
) -> (Option<ReplyMeta>, Result<T, Failure>) {
    // basic_auth marks the Authorization header sensitive, so it is redacted from
    // reqwest's and hyper's own Debug output.
    let sent = request
        .basic_auth(&key.sid, Some(key.secret.expose_secret()))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) if err.is_timeout() => return (None, Err(Failure::Timeout)),
        Err(err) => {
            return (
                None,
                Err(Failure::Connect(anyhow::Error::new(err.without_url()))),
            );
        }
    };
    let mut meta = ReplyMeta {
        status: response.status(),
        request_id: response
            .headers()
            .get("twilio-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        twilio_code: None,
    };
    let status = meta.status;
    let body = read_capped(response, limit).await;

    if !status.is_success() {
        // Twilio has answered, so the request failed there whatever happens to the
        // body: classify by what we could read (at worst, just the status) rather than
        // report a timeout that would suggest the outcome is unknown.
        let bytes = body.map(|b| b.bytes).unwrap_or_default();
        let api = TwilioApiError::from_body(status.as_u16(), &bytes);
        meta.twilio_code = api.code;
        return (Some(meta), Err(Failure::Api(status, api)));
    }

    let result = match body {
        Err(err) if err.is_timeout() => Err(Failure::Timeout),
        Err(err) => Err(Failure::Decode(
            anyhow::Error::new(err.without_url()).context("reading the response body"),
        )),
        Ok(CappedBody {
            truncated: true, ..
        }) => Err(Failure::Decode(anyhow::anyhow!(
            "response body over {limit} bytes"
        ))),
        // A DELETE's `204 No Content`: decoded as JSON `null`, which is `()`.
        Ok(CappedBody { bytes, .. }) if bytes.is_empty() && status == StatusCode::NO_CONTENT => {
            serde_json::from_slice(b"null").map_err(|err| {
                Failure::Decode(anyhow::Error::new(err).context("a response with no content"))
            })
        }
        Ok(CappedBody { bytes, .. }) => serde_json::from_slice(&bytes).map_err(|err| {
            Failure::Decode(anyhow::Error::new(err).context("decoding the response"))
        }),
    };
    (Some(meta), result)
}

pub(crate) struct CappedBody {
    pub(crate) bytes: Vec<u8>,
    pub(crate) truncated: bool,
}

/// Reads at most `limit` bytes; the rest is left unread and the connection dropped,
/// so a misbehaving peer can't make us buffer without bound.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<CappedBody, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes,
        truncated: false,
    })
}
