//! [`Verifier`] backed by Twilio Verify v2 (`CreateVerification`,
//! `CreateVerificationCheck`, and `FetchService` to learn whether Verify answers),
//! spoken to over form-encoded HTTPS with an API key.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, debug_span};

use super::guard::Guard;
use super::http::{self as twilio_http, Failure, ReplyMeta};
use crate::domain::OtpCode;
use crate::twilio::credentials::ApiKeys;
use crate::verify::{
    CheckOutcome, StartRequest, StartedVerification, VerificationSid, Verifier, VerifyError,
};

/// Where Twilio serves Verify. Overridable so tests and regional edges can point elsewhere.
pub const DEFAULT_BASE_URL: &str = "https://verify.twilio.com";

/// Verify answers are a couple of KiB; anything bigger is not Verify talking, and an
/// unbounded read would let a misbehaving proxy make us buffer without limit.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Long enough for a TLS handshake from a distant region, short enough that a dead
/// route fails well inside the participant's patience.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Twilio's edges drop idle connections on their own schedule; recycling ours sooner
/// makes it less likely that a request is written onto a socket the far end is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

// Operation ids from the OpenAPI spec, so a log line can be matched to Twilio's docs.
const OP_START: &str = "CreateVerification";
const OP_CHECK: &str = "CreateVerificationCheck";
const OP_FETCH_SERVICE: &str = "FetchService";

/// How to reach one Verify service with one API key.
#[derive(Clone)]
pub struct TwilioVerifyConfig {
    /// Scheme and host, e.g. [`DEFAULT_BASE_URL`]; a trailing `/` is tolerated.
    pub base_url: String,
    /// `VA…`: the Verify service whose template and settings the SMS uses.
    pub service_sid: String,
    /// The API key in service (Basic auth), read per request so it can be rotated.
    pub api_key: ApiKeys,
}

impl fmt::Debug for TwilioVerifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerifyConfig")
            .field("base_url", &self.base_url)
            .field("service_sid", &self.service_sid)
            .field("api_key", &*self.api_key.current())
            .finish()
    }
}

/// Builds the app's one outbound HTTP client. Build it once at startup and hand out
/// clones: `reqwest::Client` is an `Arc` around a connection pool, so clones share
/// keep-alive connections (and TLS sessions) instead of opening new ones per request.
///
/// `timeout` bounds a whole exchange, connect to last body byte; connecting alone is
/// bounded by 5 s (or `timeout`, if shorter).
///
/// Nothing is ever sent twice: a replayed `CreateVerification` is another SMS (and
/// another charge), so retries are switched off here rather than trusting reqwest's
/// default policy to stay harmless, and redirects are not followed (Twilio's APIs don't
/// redirect, and following a 307 would re-send the POST somewhere we didn't choose).
///
/// # Panics
///
/// If the TLS backend can't be initialised, which is a broken build rather than a
/// runtime condition.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("roomgate/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(TCP_KEEPALIVE)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .build()
        .expect("the HTTP client (TLS backend) failed to initialise")
}

/// The Twilio Verify [`Verifier`]. Cheap to clone; shares the given HTTP client's pool.
#[derive(Debug, Clone)]
pub struct TwilioVerifyClient {
    http: reqwest::Client,
    config: TwilioVerifyConfig,
    verifications_url: String,
    verification_check_url: String,
    service_url: String,
    /// In-flight bound and breaker; none in unit tests of the wire format.
    guard: Option<Guard>,
}

impl TwilioVerifyClient {
    pub fn new(http: reqwest::Client, config: TwilioVerifyConfig) -> Self {
        let base = config.base_url.trim_end_matches('/');
        let service = &config.service_sid;
        Self {
            verifications_url: format!("{base}/v2/Services/{service}/Verifications"),
            verification_check_url: format!("{base}/v2/Services/{service}/VerificationCheck"),
            service_url: format!("{base}/v2/Services/{service}"),
            http,
            config,
            guard: None,
        }
    }

    /// Every call goes through `guard`: refused at once as [`VerifyError::Busy`] when
    /// it is saturated or its breaker open.
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// One request, one attempt, one debug line. The form and the body are never
    /// logged: they hold the phone number, the code and (in errors) Twilio's echo of
    /// them.
    async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, VerifyError> {
        let permit = match self.guard.as_ref().map(Guard::admit).transpose() {
            Ok(permit) => permit,
            Err(rejected) => {
                debug!(op, error = %rejected, "Twilio Verify call not made");
                return Err(VerifyError::Busy(rejected));
            }
        };
        let started = Instant::now();
        let (reply, result) = self.exchange(request).await;
        if let Some(permit) = permit {
            permit.finish(!matches!(&result, Err(e) if e.is_service_failure()));
        }
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let http_status = reply.as_ref().map(|r| r.status.as_u16());
        let request_id = reply.as_ref().and_then(|r| r.request_id.as_deref());
        match &result {
            Ok(_) => debug!(
                op,
                http_status, request_id, latency_ms, "Twilio Verify call ok"
            ),
            Err(err) => {
                // The cause chain of transport and decode errors names the URL, the
                // socket error or the bad field's type, never the body or the form.
                let cause = match err {
                    VerifyError::Connect(e) | VerifyError::Decode(e) => Some(format!("{e:#}")),
                    _ => None,
                };
                debug!(
                    op,
                    http_status,
                    request_id,
                    twilio_code = err.twilio_code(),
                    latency_ms,
                    error = %err,
                    cause,
                    "Twilio Verify call failed"
                );
            }
        }
        result
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (Option<ReplyMeta>, Result<T, VerifyError>) {
        let key = self.config.api_key.current();
        let (meta, result) = twilio_http::exchange(request, &key, MAX_BODY_BYTES).await;
        // A timed-out start may still have sent its SMS, which is why callers must not
        // retry it; the variant only tells the participant what happened.
        let result = result.map_err(|failure| match failure {
            Failure::Timeout => VerifyError::Timeout,
            Failure::Connect(e) => VerifyError::Connect(e),
            Failure::Api(_, api) => VerifyError::from_api(api),
            Failure::Decode(e) => VerifyError::Decode(e),
        });
        (meta, result)
    }
}

#[async_trait]
impl Verifier for TwilioVerifyClient {
    fn busy(&self) -> Option<Duration> {
        let rejected = self.guard.as_ref()?.check().err()?;
        Some(rejected.retry_after())
    }

    async fn start(&self, req: StartRequest<'_>) -> Result<StartedVerification, VerifyError> {
        let mut form = vec![
            ("To", req.to.expose_e164()),
            ("Channel", req.channel.as_str()),
        ];
        if let Some(locale) = req.locale {
            form.push(("Locale", locale));
        }
        // No username: logs name users only by pseudonym, and the caller logs with it.
        let span = debug_span!("verify_start", to = %req.to.masked(), channel = %req.channel);
        async {
            let resource: VerificationResource = self
                .call(
                    OP_START,
                    self.http.post(&self.verifications_url).form(&form),
                )
                .await?;
            // The spec makes every field nullable; without a sid there is nothing to
            // check a code against, so the answer is unusable.
            let sid = resource
                .sid
                .filter(|sid| !sid.is_empty())
                .ok_or_else(|| VerifyError::Decode(anyhow::anyhow!("verification has no sid")))?;
            debug!(sid = %sid, status = resource.status.as_deref(), "verification started");
            Ok(StartedVerification {
                sid: VerificationSid::new(sid),
            })
        }
        .instrument(span)
        .await
    }

    async fn check(
        &self,
        sid: &VerificationSid,
        code: &OtpCode,
    ) -> Result<CheckOutcome, VerifyError> {
        let form = [("VerificationSid", sid.as_str()), ("Code", code.expose())];
        let span = debug_span!("verify_check", sid = sid.as_str());
        async {
            let resource: VerificationCheckResource = self
                .call(
                    OP_CHECK,
                    self.http.post(&self.verification_check_url).form(&form),
                )
                .await?;
            // Without a status we can't tell approved from not; refusing to guess keeps
            // a malformed answer from ever letting someone in.
            let status = resource.status.ok_or_else(|| {
                VerifyError::Decode(anyhow::anyhow!("verification check has no status"))
            })?;
            let outcome = match status.as_str() {
                // Only for the verification asked about: an answer for another (a
                // proxy's or a cache's mix-up, a replayed body) lets nobody in.
                "approved" if resource.sid.as_deref() != Some(sid.as_str()) => {
                    return Err(VerifyError::Decode(anyhow::anyhow!(
                        "an approval for another verification than the one checked"
                    )));
                }
                "approved" => CheckOutcome::Approved,
                // Verify answers a wrong code with 200 and the verification still open.
                "pending" => CheckOutcome::Rejected,
                // Closed for good: none of them can become approved.
                "canceled" | "expired" | "max_attempts_reached" | "failed" | "deleted" => {
                    CheckOutcome::Closed
                }
                // One Twilio adds later (or an empty one): not understood, so neither
                // approved nor held against the participant as a failure: busy.
                other => {
                    return Err(VerifyError::Decode(anyhow::anyhow!(
                        "a verification check status not known: {other:?}"
                    )));
                }
            };
            debug!(status = %status, ?outcome, "verification checked");
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    async fn reachable(&self) -> Result<(), VerifyError> {
        let fetched: Result<serde::de::IgnoredAny, _> = self
            .call(OP_FETCH_SERVICE, self.http.get(&self.service_url))
            .await;
        match fetched {
            Ok(_) => Ok(()),
            // What a check would get too: Verify out of service, or the account's
            // request rate.
            Err(e) if e.is_outage() || matches!(e, VerifyError::RateLimited(_)) => Err(e),
            // Any other answer is Verify answering, which is all this asks: a key
            // that may check codes but not read the Service (a restricted key) gets
            // a 403 here, and its checks still work.
            Err(_) => Ok(()),
        }
    }
}

/// The subset of `verify.v2.service.verification` we use.
#[derive(Deserialize)]
struct VerificationResource {
    sid: Option<String>,
    status: Option<String>,
}

/// The subset of `verify.v2.service.verification_check` we use. `valid` is ignored:
/// the spec marks it legacy in favour of `status`.
#[derive(Deserialize)]
struct VerificationCheckResource {
    /// The verification's SID (`VE…`), which an approval must match.
    sid: Option<String>,
    status: Option<String>,
}

#[cfg(test)]
mod tests {

    use base64::Engine as _;
    use serde_json::{Value, json};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

    use super::*;
    use crate::domain::{PhoneNumber, Username};
    use crate::verify::Channel;

    const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
    const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
    const KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
    const KEY_SECRET: &str = "s3cr3t-api-key-value-not-for-logs";
    const VE_SID: &str = "VEfedcba9876543210fedcba9876543210";
    const TO: &str = "+14155550101";
    const CODE: &str = "947361";
    const START_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications";
    const CHECK_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef/VerificationCheck";

    fn config(base_url: &str) -> TwilioVerifyConfig {
        TwilioVerifyConfig {
            base_url: base_url.to_owned(),
            service_sid: SERVICE_SID.to_owned(),
            api_key: crate::twilio::credentials::ApiKeys::fixed(KEY_SID, KEY_SECRET),
        }
    }

    fn client_with_timeout(base_url: &str, timeout: Duration) -> TwilioVerifyClient {
        TwilioVerifyClient::new(http_client(timeout), config(base_url))
    }

    fn client(server: &MockServer) -> TwilioVerifyClient {
        client_with_timeout(&server.uri(), Duration::from_secs(5))
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::parse(TO).unwrap()
    }

    fn user() -> Username {
        Username::parse("alice").unwrap()
    }

    fn code() -> OtpCode {
        OtpCode::parse(CODE).unwrap()
    }

    fn sid() -> VerificationSid {
        VerificationSid::new(VE_SID)
    }

    async fn start(
        client: &TwilioVerifyClient,
        locale: Option<&str>,
    ) -> Result<StartedVerification, VerifyError> {
        let (to, username) = (phone(), user());
        client
            .start(StartRequest {
                username: &username,
                to: &to,
                channel: Channel::Sms,
                locale,
            })
            .await
    }

    async fn check(client: &TwilioVerifyClient) -> Result<CheckOutcome, VerifyError> {
        client.check(&sid(), &code()).await
    }

    /// A `verify.v2.service.verification` as CreateVerification returns it.
    fn verification_json() -> Value {
        json!({
            "sid": VE_SID,
            "service_sid": SERVICE_SID,
            "account_sid": ACCOUNT_SID,
            "to": TO,
            "channel": "sms",
            "status": "pending",
            "valid": false,
            "date_created": "2025-05-30T20:00:00Z",
            "date_updated": "2025-05-30T20:00:00Z",
            "lookup": {},
            "amount": null,
            "payee": null,
            "send_code_attempts": [{
                "time": "2025-05-30T20:00:00Z",
                "channel": "SMS",
                "attempt_sid": "VL0123456789abcdef0123456789abcdef"
            }],
            "sna": null,
            "url": format!("https://verify.twilio.com{START_PATH}/{VE_SID}")
        })
    }

    /// A `verify.v2.service.verification_check` as CreateVerificationCheck returns it.
    fn check_json(status: &str) -> Value {
        json!({
            "sid": VE_SID,
            "service_sid": SERVICE_SID,
            "account_sid": ACCOUNT_SID,
            "to": TO,
            "channel": "sms",
            "status": status,
            "valid": status == "approved",
            "amount": null,
            "payee": null,
            "sna_attempts_error_codes": [],
            "date_created": "2025-05-30T20:00:00Z",
            "date_updated": "2025-05-30T20:00:07Z"
        })
    }

    fn twilio_error(code: u32, status: u16) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(json!({
            "code": code,
            "message": format!("Error {code} about {TO}"),
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

    fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
        let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
        url.set_query(Some(std::str::from_utf8(body).ok()?));
        Some(url.query_pairs().into_owned().collect())
    }

    /// Matches a form body whose decoded pairs are exactly these, in this order.
    struct FormBody(Vec<(&'static str, &'static str)>);

    impl FormBody {
        fn pairs(&self) -> Vec<(String, String)> {
            self.0
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        }
    }

    impl Match for FormBody {
        fn matches(&self, request: &Request) -> bool {
            form_pairs(&request.body).is_some_and(|pairs| pairs == self.pairs())
        }
    }

    /// Mounts an exact-request mock for one start and returns the server.
    async fn exact_start_server(form: Vec<(&'static str, &'static str)>) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .and(header("authorization", expected_authorization().as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(header(
                "user-agent",
                concat!("roomgate/", env!("CARGO_PKG_VERSION")),
            ))
            .and(FormBody(form))
            .respond_with(ResponseTemplate::new(201).set_body_json(verification_json()))
            .expect(1)
            .mount(&server)
            .await;
        server
    }

    async fn only_request(server: &MockServer) -> Request {
        let mut requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1, "exactly one request");
        requests.pop().unwrap()
    }

    #[tokio::test]
    async fn start_sends_exactly_to_and_channel_and_decodes_the_201() {
        let server = exact_start_server(vec![("To", TO), ("Channel", "sms")]).await;

        let started = start(&client(&server), None).await.unwrap();

        assert_eq!(started.sid, sid());
        let request = only_request(&server).await;
        assert_eq!(
            form_pairs(&request.body).unwrap(),
            [("To", TO), ("Channel", "sms")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[tokio::test]
    async fn a_call_is_channel_call_with_its_locale() {
        let server =
            exact_start_server(vec![("To", TO), ("Channel", "call"), ("Locale", "ja")]).await;
        let (to, username) = (phone(), user());
        let started = client(&server)
            .start(StartRequest {
                username: &username,
                to: &to,
                channel: Channel::Call,
                locale: Some("ja"),
            })
            .await
            .unwrap();
        assert_eq!(started.sid, sid());
        let request = only_request(&server).await;
        assert_eq!(
            form_pairs(&request.body).unwrap(),
            [("To", TO), ("Channel", "call"), ("Locale", "ja")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[tokio::test]
    async fn start_with_a_locale_adds_it() {
        let server =
            exact_start_server(vec![("To", TO), ("Channel", "sms"), ("Locale", "fr")]).await;

        let started = start(&client(&server), Some("fr")).await.unwrap();

        assert_eq!(started.sid, sid());
    }

    #[tokio::test]
    async fn trailing_slash_in_base_url_is_not_doubled() {
        let server = exact_start_server(vec![("To", TO), ("Channel", "sms")]).await;
        let client = client_with_timeout(&format!("{}/", server.uri()), Duration::from_secs(5));

        start(&client, None).await.unwrap();

        assert_eq!(
            client.verifications_url,
            format!("{}{START_PATH}", server.uri())
        );
        assert_eq!(
            client.verification_check_url,
            format!("{}{CHECK_PATH}", server.uri())
        );
    }

    #[tokio::test]
    async fn check_sends_exactly_sid_and_code_and_approves() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .and(header("authorization", expected_authorization().as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(FormBody(vec![("VerificationSid", VE_SID), ("Code", CODE)]))
            .respond_with(ResponseTemplate::new(200).set_body_json(check_json("approved")))
            .expect(1)
            .mount(&server)
            .await;

        assert_eq!(
            check(&client(&server)).await.unwrap(),
            CheckOutcome::Approved
        );
    }

    /// Whether Verify answers: `FetchService` (a GET of the Service, no body), any
    /// JSON answer is yes; a 5xx is Verify failing, as for any other call.
    #[tokio::test]
    async fn reachable_fetches_the_service_and_takes_any_answer_as_yes() {
        let server = MockServer::start().await;
        let service = "/v2/Services/VA0123456789abcdef0123456789abcdef";
        Mock::given(method("GET"))
            .and(path(service))
            .and(header("authorization", expected_authorization().as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sid": SERVICE_SID, "account_sid": ACCOUNT_SID, "friendly_name": "roomgate",
                "code_length": 6, "url": format!("https://verify.twilio.com{service}")
            })))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(service))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        client.reachable().await.unwrap();
        let err = client.reachable().await.unwrap_err();
        assert!(err.is_service_failure(), "{err:?}");
        let requests = server.received_requests().await.unwrap();
        assert!(requests.iter().all(|r| r.body.is_empty()));
    }

    /// A refusal a check would get too (our credentials, the account's request rate)
    /// is one; any other answer (a restricted key's 403, say) is Verify answering.
    #[tokio::test]
    async fn reachable_fails_only_as_a_check_would() {
        for (template, reached) in [
            (twilio_error(20003, 401), false),
            (twilio_error(20429, 429), false),
            (twilio_error(20403, 403), true),
            (twilio_error(20404, 404), true),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(template)
                .expect(1)
                .mount(&server)
                .await;
            let got = client(&server).reachable().await;
            assert_eq!(got.is_ok(), reached, "{got:?}");
        }
    }

    /// An approval for another verification (or naming none) lets nobody in: it is
    /// an answer that can't be trusted, so "busy", never "approved".
    #[tokio::test]
    async fn an_approval_for_another_verification_is_not_one() {
        let other = "VE00000000000000000000000000000000";
        for sid in [json!(other), Value::Null] {
            let mut body = check_json("approved");
            body["sid"] = sid.clone();
            let checked = check_answered(body).await;
            assert!(
                matches!(checked, Err(VerifyError::Decode(_))),
                "{sid}: {checked:?}"
            );
        }
    }

    /// A check that Verify answers with `body` (200).
    async fn check_answered(body: Value) -> Result<CheckOutcome, VerifyError> {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        check(&client(&server)).await
    }

    #[tokio::test]
    async fn check_decodes_201_and_maps_every_status() {
        let cases = [
            ("approved", CheckOutcome::Approved),
            ("pending", CheckOutcome::Rejected),
            ("canceled", CheckOutcome::Closed),
            ("expired", CheckOutcome::Closed),
            ("max_attempts_reached", CheckOutcome::Closed),
            ("failed", CheckOutcome::Closed),
            ("deleted", CheckOutcome::Closed),
        ];
        for (status, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(CHECK_PATH))
                .respond_with(ResponseTemplate::new(201).set_body_json(check_json(status)))
                .expect(1)
                .mount(&server)
                .await;

            assert_eq!(check(&client(&server)).await.unwrap(), expected, "{status}");
            server.verify().await;
        }
        // A status not known (a new one, an empty one) is not understood: busy, not
        // a failure counted against the participant.
        for status in ["some_future_status", ""] {
            let checked = check_answered(check_json(status)).await;
            assert!(
                matches!(checked, Err(VerifyError::Decode(_))),
                "{status:?}: {checked:?}"
            );
        }
    }

    #[tokio::test]
    async fn twilio_error_codes_map_to_their_variants() {
        fn variant(err: &VerifyError) -> &'static str {
            match err {
                VerifyError::InvalidParameter(_) => "InvalidParameter",
                VerifyError::MaxCheckAttempts(_) => "MaxCheckAttempts",
                VerifyError::MaxSendAttempts(_) => "MaxSendAttempts",
                VerifyError::TooManyConcurrent(_) => "TooManyConcurrent",
                VerifyError::NotFound(_) => "NotFound",
                VerifyError::RateLimited(_) => "RateLimited",
                VerifyError::FraudBlocked(_) => "FraudBlocked",
                VerifyError::GeoBlocked(_) => "GeoBlocked",
                VerifyError::Undeliverable(_) => "Undeliverable",
                VerifyError::Api(_) => "Api",
                VerifyError::Timeout => "Timeout",
                VerifyError::Busy(_) => "Busy",
                VerifyError::Connect(_) => "Connect",
                VerifyError::Decode(_) => "Decode",
            }
        }
        // (operation path, Twilio code, HTTP status, expected variant)
        let cases = [
            (START_PATH, 60200, 400, "InvalidParameter"),
            (CHECK_PATH, 60202, 429, "MaxCheckAttempts"),
            (START_PATH, 60203, 429, "MaxSendAttempts"),
            (START_PATH, 60212, 429, "TooManyConcurrent"),
            (CHECK_PATH, 20404, 404, "NotFound"),
            (START_PATH, 20429, 429, "RateLimited"),
            (START_PATH, 60410, 403, "FraudBlocked"),
            (START_PATH, 60605, 403, "GeoBlocked"),
            (START_PATH, 60205, 403, "Undeliverable"),
            (START_PATH, 60006, 400, "Undeliverable"),
            (START_PATH, 60008, 403, "Undeliverable"),
            (START_PATH, 20003, 401, "Api"),
        ];
        for (op_path, code, status, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(op_path))
                .respond_with(twilio_error(code, status))
                .expect(1)
                .mount(&server)
                .await;
            let client = client(&server);

            let err = if op_path == START_PATH {
                start(&client, None).await.unwrap_err()
            } else {
                check(&client).await.unwrap_err()
            };

            assert_eq!(variant(&err), expected, "{code}");
            assert_eq!(err.twilio_code(), Some(code));
            if let VerifyError::InvalidParameter(api)
            | VerifyError::MaxCheckAttempts(api)
            | VerifyError::MaxSendAttempts(api)
            | VerifyError::TooManyConcurrent(api)
            | VerifyError::NotFound(api)
            | VerifyError::RateLimited(api)
            | VerifyError::FraudBlocked(api)
            | VerifyError::GeoBlocked(api)
            | VerifyError::Api(api) = &err
            {
                assert_eq!(api.status, status);
            }
            server.verify().await;
        }
    }

    #[tokio::test]
    async fn rfc9457_problem_maps_by_the_code_in_its_type() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(
                ResponseTemplate::new(404)
                    .insert_header("content-type", "application/problem+json")
                    .set_body_string(
                        json!({
                            "type": "https://www.twilio.com/docs/api/errors/20404",
                            "title": "Not Found",
                            "status": 404,
                            "detail": "The requested resource /Services/VA…/VerificationCheck was not found",
                            "instance": CHECK_PATH
                        })
                        .to_string(),
                    ),
            )
            .expect(1)
            .mount(&server)
            .await;

        let err = check(&client(&server)).await.unwrap_err();

        assert!(matches!(err, VerifyError::NotFound(_)), "{err:?}");
        assert_eq!(err.twilio_code(), Some(20404));
    }

    #[tokio::test]
    async fn html_500_maps_to_api_with_its_status() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
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

        let err = check(&client(&server)).await.unwrap_err();

        assert!(
            matches!(&err, VerifyError::Api(api) if api.code.is_none() && api.status == 500),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn oversized_error_body_still_maps_to_api() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(ResponseTemplate::new(502).set_body_string("x".repeat(1024 * 1024)))
            .expect(1)
            .mount(&server)
            .await;

        let err = start(&client(&server), None).await.unwrap_err();

        assert!(
            matches!(&err, VerifyError::Api(api) if api.status == 502),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn start_is_sent_once_even_when_it_fails() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(ResponseTemplate::new(500).set_body_string("upstream failure"))
            .expect(1)
            .mount(&server)
            .await;

        let err = start(&client(&server), None).await.unwrap_err();

        assert!(matches!(err, VerifyError::Api(_)), "{err:?}");
        only_request(&server).await;
    }

    #[tokio::test]
    async fn slow_answer_is_a_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(verification_json())
                    .set_delay(Duration::from_secs(3)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client_with_timeout(&server.uri(), Duration::from_millis(200));

        let err = start(&client, None).await.unwrap_err();

        assert!(matches!(err, VerifyError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn closed_port_is_a_connect_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let client =
            client_with_timeout(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5));

        let err = check(&client).await.unwrap_err();

        assert!(matches!(err, VerifyError::Connect(_)), "{err:?}");
    }

    #[tokio::test]
    async fn garbage_success_body_is_a_decode_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(ResponseTemplate::new(201).set_body_string("<html>surprise</html>"))
            .expect(1)
            .mount(&server)
            .await;

        let err = start(&client(&server), None).await.unwrap_err();

        assert!(matches!(err, VerifyError::Decode(_)), "{err:?}");
    }

    #[tokio::test]
    async fn success_without_sid_or_status_is_a_decode_error() {
        let server = MockServer::start().await;
        let mut no_sid = verification_json();
        no_sid["sid"] = Value::Null;
        let mut no_status = check_json("approved");
        no_status.as_object_mut().unwrap().remove("status");
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(ResponseTemplate::new(201).set_body_json(no_sid))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(no_status))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);

        let started = start(&client, None).await.unwrap_err();
        let checked = check(&client).await.unwrap_err();

        assert!(matches!(started, VerifyError::Decode(_)), "{started:?}");
        assert!(matches!(checked, VerifyError::Decode(_)), "{checked:?}");
    }

    #[test]
    fn config_debug_redacts_the_secret() {
        let shown = format!("{:?}", config(DEFAULT_BASE_URL));
        assert!(!shown.contains(KEY_SECRET), "{shown}");
        assert!(
            shown.contains(KEY_SID) && shown.contains("[REDACTED]"),
            "{shown}"
        );
        let client = TwilioVerifyClient::new(reqwest::Client::new(), config(DEFAULT_BASE_URL));
        assert!(!format!("{client:?}").contains(KEY_SECRET));
    }

    #[tokio::test]
    async fn logs_never_carry_the_number_the_code_or_the_credentials() {
        let (captured, _guard) = crate::test_support::capture_logs();

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .and(FormBody(vec![
                ("To", TO),
                ("Channel", "sms"),
                ("Locale", "en"),
            ]))
            .respond_with(ResponseTemplate::new(201).set_body_json(verification_json()))
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .and(FormBody(vec![("To", TO), ("Channel", "sms")]))
            .respond_with(twilio_error(60200, 400))
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(check_json("approved")))
            .expect(2)
            .mount(&server)
            .await;
        let client = client(&server);
        let exercise = || async {
            start(&client, Some("en")).await.unwrap();
            start(&client, None).await.unwrap_err();
            check(&client).await.unwrap();
        };

        // tracing caches each callsite's interest process-wide. Tests on other threads
        // hit the same callsites without a subscriber, and one registering concurrently
        // with ours can cache "never" for it. Once a first round has registered every
        // callsite, a rebuild recomputes them all with our subscriber in the picture.
        exercise().await;
        tracing::callsite::rebuild_interest_cache();
        captured.clear();
        exercise().await;

        let logs = captured.text();
        for expected in [
            OP_START,
            OP_CHECK,
            "60200",
            "http_status=400",
            "latency_ms",
            "+1********01",
        ] {
            assert!(logs.contains(expected), "{expected} missing from:\n{logs}");
        }
        let credentials = expected_authorization();
        for secret in [
            "4155550101",
            CODE,
            KEY_SECRET,
            credentials.as_str(),
            "Basic ",
            // Users are named in logs by pseudonym only.
            user().as_str(),
        ] {
            assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
        }
    }
}
