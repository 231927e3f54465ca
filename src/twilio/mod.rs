//! What talking to Twilio takes, in one place: the credentials (API Keys that rotate
//! while running), the request path every REST call shares (auth, one attempt, capped
//! bodies, Twilio's error shapes), the Verify client, and the check of
//! `X-Twilio-Signature` on Twilio's webhooks. The Video REST client (`video::rest`) and
//! the `Verifier` trait it implements (`verify`) use these.

/// Twilio credentials that can be rotated while running.
pub mod credentials;
/// The in-flight bound and circuit breaker every outbound service goes through.
pub mod guard;
/// What every Twilio REST call shares: auth, one attempt, bodies and errors.
pub mod http;
/// Checking `X-Twilio-Signature` on Twilio's webhooks.
pub mod signature;
/// The Twilio Verify v2 client.
pub mod verify;
