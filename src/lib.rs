//! roomgate: an OTP gatekeeper in front of a Twilio Programmable Video room.

/// Who may join which room: the host-edited TOML file.
pub mod acl;
/// The admin listener: `/metrics` and the detailed `/readyz`.
pub mod admin;
/// Signed operator alerts (SMS budget), sent in the background.
pub mod alerts;
/// The append-only audit log, phone numbers encrypted.
pub mod audit;
/// The global SMS budget: caps per minute, hour and day.
pub mod budget;
/// The client's IP address, proxies considered.
pub mod client_ip;
/// Time as a dependency, for tests of expiry.
pub mod clock;
/// Settings from the environment, validated at start-up.
pub mod config;
/// The host's store commands, run by the CLI or, over its control socket, by `serve`.
pub mod control;
/// Newtypes parsed at the edge: usernames, phones, codes, rooms.
pub mod domain;
/// Typed environment-variable readers that collect every error.
pub mod env;
/// Languages: negotiation, the message catalogs, the translator pages use.
pub mod i18n;
/// Rate limits and lockouts, and the counters behind them.
pub mod limits;
/// Handing memory back to the system after a large one-off job.
pub mod memory;
/// Prometheus metrics, served by [`admin`].
pub mod metrics;
/// What participants are told when a sign-in can't go on.
pub mod notice;
/// Passkeys: registration, sign-in and their records in the store.
pub mod passkeys;
/// Random tokens for ids and CSRF.
pub mod random;
/// Whether an instance is ready: the one check both `/readyz` answer from.
pub mod readiness;
/// The writer threads scheduled as batch work beside the HTTP workers.
pub mod scheduling;

/// Recordings kept off Twilio: recorded on purpose, moved into the operator's storage,
/// played back through links that expire in seconds.
pub mod recordings;
/// HTTP pages and endpoints.
pub mod routes;
/// The typed session cookie.
pub mod session;
/// Pending sign-ins between "send me a code" and "here it is".
pub mod signin;
/// Building and running the server.
pub mod startup;
/// Shared state of the request handlers.
pub mod state;
/// Everything remembered between requests: the embedded store or Redis.
pub mod store;
/// Logging set-up.
pub mod telemetry;
/// Twilio's plumbing: credentials, the REST request path, the Verify client,
/// webhook signatures.
pub mod twilio;
/// Sending and checking codes: Twilio Verify or the local verifier.
pub mod verify;
/// Twilio Video access tokens.
pub mod video;

#[cfg(test)]
mod test_support;
