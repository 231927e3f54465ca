//! Twilio fixtures every test binary shares: the ids, Verify's paths, a Verify
//! `Verification` resource as the API returns it, and Basic auth as Twilio expects it.
//! The API suite includes this file too (`tests/api/main.rs`).
#![allow(dead_code)] // each test binary uses its own part of this

use serde_json::{Value, json};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const API_KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
pub const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
pub const VERIFICATION_SID: &str = "VE0123456789abcdef0123456789abcdef";
pub const ROOM_SID: &str = "RM0123456789abcdef0123456789abcdef";
/// The number the verification fixtures are for (alice's in the test ACLs).
pub const ALICE_PHONE: &str = "+14155550101";
pub const START_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications";
pub const CHECK_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef/VerificationCheck";
/// Verify's `FetchService`: what a sign-in that sends nothing asks while Verify may be
/// down, as a listed one's start or check would find out.
pub const SERVICE_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef";

/// A status callback's `Timestamp`, as Twilio writes it: now (the first time this test
/// binary asks), since roomgate refuses callbacks from before its replay window.
pub fn callback_timestamp() -> &'static str {
    static NOW: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NOW.get_or_init(|| jiff::Timestamp::now().to_string())
}

/// A Verify `Verification` resource in `status`, as the API returns it (spec fields).
pub fn verification_json(status: &str) -> Value {
    json!({
        "sid": VERIFICATION_SID,
        "service_sid": SERVICE_SID,
        "account_sid": ACCOUNT_SID,
        "to": ALICE_PHONE,
        "channel": "sms",
        "status": status,
        "valid": status == "approved",
        "lookup": {},
        "amount": null,
        "payee": null,
        "send_code_attempts": [{"time": "2026-11-22T08:00:00.000Z", "channel": "SMS", "attempt_sid": "VL0123456789abcdef0123456789abcdef"}],
        "date_created": "2026-11-22T08:00:00Z",
        "date_updated": "2026-11-22T08:00:00Z",
        "sna": null,
        "url": format!("https://verify.twilio.com/v2/Services/{SERVICE_SID}/Verifications/{VERIFICATION_SID}")
    })
}

/// The Verify Service resource as `FetchService` returns it (spec fields).
pub fn service_json() -> Value {
    json!({
        "sid": SERVICE_SID,
        "account_sid": ACCOUNT_SID,
        "friendly_name": "roomgate",
        "code_length": 6,
        "lookup_enabled": false,
        "psd2_enabled": false,
        "skip_sms_to_landlines": false,
        "dtmf_input_required": true,
        "tts_name": null,
        "do_not_share_warning_enabled": false,
        "custom_code_enabled": false,
        "push": {},
        "totp": {},
        "default_template_sid": null,
        "whatsapp": {},
        "passkeys": {},
        "verify_event_subscription_enabled": false,
        "date_created": "2026-11-22T08:00:00Z",
        "date_updated": "2026-11-22T08:00:00Z",
        "url": format!("https://verify.twilio.com/v2/Services/{SERVICE_SID}"),
        "links": {
            "verification_checks": format!("https://verify.twilio.com/v2/Services/{SERVICE_SID}/VerificationCheck"),
            "verifications": format!("https://verify.twilio.com/v2/Services/{SERVICE_SID}/Verifications")
        }
    })
}

/// `Authorization: Basic …` for `user` and `password` (an API key's SID and secret).
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
