//! Black-box tests of the HTTP API, all in one binary.

mod acl_changes;
mod audit;
mod budget;
mod calls;
mod csrf;
mod enumeration;
mod flow;
mod helpers;
mod host;
mod i18n;
mod limits;
mod local_mode;
mod metrics;
mod outbound;
mod pages;
mod passkeys;
mod recording_controls;
mod recording_files;
mod recordings;
mod reload;
mod resend;
mod security;
mod timing;
#[path = "../support/twilio.rs"]
mod twilio;
mod verify_errors;
mod webhooks;
