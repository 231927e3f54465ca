use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::PageError;
use super::extract::{CheckedForm, CsrfField, RoomPath};
use super::respond::{notice_page, render, see_other};
use crate::client_ip::ClientIp;
use crate::i18n::{Arg, Tr};
use crate::session::TypedSession;
use crate::signin::{Refusal, Visit};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage<'a> {
    tr: &'a Tr,
    room: &'a str,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage<'a> {
    tr: &'a Tr,
    /// The room script's messages (JSON, see `Tr::json`).
    script_messages: &'a str,
    room: &'a str,
    identity: &'a str,
    csrf_token: &'a str,
    sdk_url: &'a str,
    local_mode: bool,
    is_host: bool,
}

/// The room link: the room itself for a session verified for it, else the join form.
pub async fn room_page(
    RoomPath(room): RoomPath,
    tr: Tr,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    if let Some(grant) = session.verified_for(&room) {
        // The ACL is the authority on every request, not the cookie.
        let is_host = state
            .acl
            .load()
            .allowed(&grant.username, &room)
            .map(|user| user.is_host());
        if let Some(is_host) = is_host {
            return render(RoomPage {
                tr: &tr,
                script_messages: &room_script_messages(&tr),
                is_host,
                room: room.as_str(),
                identity: grant.username.as_str(),
                csrf_token: &csrf_token,
                sdk_url: &state.site.video_sdk_url,
                local_mode: state.site.local_mode,
            });
        }
        tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), %room, "verified session no longer on the list");
        session.clear_grant();
    }
    render(JoinPage {
        tr: &tr,
        room: room.as_str(),
        csrf_token: &csrf_token,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

impl CsrfField for LoginForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

/// "Send me a code". Known or not, allowed or not, the answer is the same: the same
/// redirect and cookie shape when the request may go on, the same limit page when it
/// may not. Only a user on the list for this room triggers a send, and that send runs
/// in the background so the response time doesn't tell either.
pub async fn login(
    RoomPath(room): RoomPath,
    CheckedForm { form, session }: CheckedForm<LoginForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let visit = Visit { room: &room, ip };
    sign_in(&state, &session, &tr, visit, typed_username(&form.username)).await
}

/// "Send a new code" from the code page: a new sign-in for the name typed before,
/// under the same limits (the resend cooldown among them).
pub async fn resend(
    RoomPath(room): RoomPath,
    CheckedForm { session, .. }: CheckedForm<super::CsrfForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let visit = Visit { room: &room, ip };
    let pending = session.pending();
    let previous = state.signin.signins.find(pending.as_ref(), &room).await;
    let previous = match previous {
        Ok(Some(previous)) => previous,
        Ok(None) => return Ok(see_other(&format!("/rooms/{room}"))),
        Err(e) => {
            let notice = state
                .signin
                .refuse(&Refusal::StoreDown(e), visit, None)
                .await;
            return notice_page(&tr, &room, notice);
        }
    };
    sign_in(&state, &session, &tr, visit, previous.who).await
}

/// The SMS is in `tr`'s language when the participant asked for one (`Tr::sms_locale`).
async fn sign_in(
    state: &AppState,
    session: &TypedSession,
    tr: &Tr,
    visit: Visit<'_>,
    who: String,
) -> Result<HttpResponse, PageError> {
    let begun = state
        .signin
        .begin(visit, who.clone(), tr.sms_locale(), session.pending())
        .await;
    match begun {
        Ok(id) => {
            session.set_pending(&id).map_err(anyhow::Error::from)?;
            Ok(see_other(&format!("/rooms/{}/verify", visit.room)))
        }
        Err(refusal) => {
            let notice = state.signin.refuse(&refusal, visit, Some(&who)).await;
            notice_page(tr, visit.room, notice)
        }
    }
}

/// The name as a participant typed it, normalised like a username, and bounded so an
/// attacker's megabyte of text doesn't become a counter key.
fn typed_username(input: &str) -> String {
    input.trim().to_lowercase().chars().take(64).collect()
}

/// The messages the room page's scripts (room.js, host.js) show, with the variables
/// each takes. A variable reaches the script as the text `{name}`, which the script
/// fills in.
const SCRIPT_MESSAGES: &[(&str, &[&str])] = &[
    ("room-retry", &[]),
    ("room-mute-mic", &[]),
    ("room-camera-off", &[]),
    ("room-no-video", &[]),
    ("room-you", &["name"]),
    ("script-reload", &[]),
    ("script-camera-denied", &[]),
    ("script-no-device", &[]),
    ("script-device-busy", &[]),
    ("script-camera-failed", &[]),
    ("script-camera-failed-named", &["error"]),
    ("script-no-mic", &[]),
    ("script-no-camera", &[]),
    ("script-starting-camera", &[]),
    ("script-needs-https", &[]),
    ("script-sign-in-expired", &[]),
    ("script-not-on-list", &[]),
    ("script-stale-page", &[]),
    ("script-token-http", &["status"]),
    ("script-unreachable", &[]),
    ("script-unmute-mic", &[]),
    ("script-camera-on", &[]),
    ("script-left", &[]),
    ("script-disconnected", &[]),
    ("script-duplicate", &[]),
    ("script-room-ended", &[]),
    ("script-host-ended", &[]),
    ("script-host-removed", &[]),
    ("script-reconnecting", &[]),
    ("script-disconnected-long", &[]),
    ("script-connected", &["room"]),
    ("script-video-unreachable", &[]),
    ("script-join-failed", &["code"]),
    ("script-not-connected", &[]),
    ("script-browser-unsupported", &[]),
    ("script-sdk-missing", &[]),
    ("script-checking", &[]),
    ("script-local-signed-in", &["name"]),
    ("script-connecting", &["room"]),
    ("host-sign-in-expired", &[]),
    ("host-only-hosts", &[]),
    ("host-failed", &["status"]),
    ("host-no-video-service", &[]),
    ("host-video-unavailable", &[]),
    ("host-remove", &[]),
    ("host-remove-label", &["name"]),
    ("host-nobody", &[]),
    ("host-list-unreachable", &[]),
    ("host-confirm-remove", &["name"]),
    ("host-removed", &["name"]),
    ("host-confirm-end", &[]),
];

/// Messages with plural forms: `$count` picks the form. Each goes to the script
/// twice, as `id.one` and `id.other` (rendered with a count of 1 and of 2), and the
/// script picks one with the browser's plural rules for the page's language.
const SCRIPT_PLURALS: &[(&str, &[&str])] = &[
    ("script-removed-rejoin", &["minutes"]),
    ("script-rate-limited", &["seconds"]),
    ("host-connected-count", &["n"]),
];

/// The room page's script messages, as JSON for the page's `#i18n` data block.
/// The scripts keep English fallbacks for any that's missing.
fn room_script_messages(tr: &Tr) -> String {
    fn placeholders<'a>(vars: &'a [&'a str]) -> Vec<(&'a str, String)> {
        vars.iter().map(|v| (*v, format!("{{{v}}}"))).collect()
    }
    let mut messages: Vec<(String, String)> = Vec::new();
    for (id, vars) in SCRIPT_MESSAGES {
        let args = placeholders(vars);
        let args: Vec<(&str, &dyn Arg)> = args.iter().map(|(k, v)| (*k, v as &dyn Arg)).collect();
        messages.push(((*id).to_owned(), tr.targs(id, &args)));
    }
    for (id, vars) in SCRIPT_PLURALS {
        let args = placeholders(vars);
        for (form, count) in [("one", 1u8), ("other", 2)] {
            let mut args: Vec<(&str, &dyn Arg)> =
                args.iter().map(|(k, v)| (*k, v as &dyn Arg)).collect();
            args.push(("count", &count));
            messages.push((format!("{id}.{form}"), tr.targs(id, &args)));
        }
    }
    tr.json(&messages)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::i18n::Lang;

    fn listed() -> BTreeSet<String> {
        SCRIPT_MESSAGES
            .iter()
            .chain(SCRIPT_PLURALS)
            .map(|(id, _)| (*id).to_owned())
            .collect()
    }

    /// Message ids the scripts look up: `t('id', …)` and `tn('id', …)` calls.
    fn used_by_scripts() -> BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut used = BTreeSet::new();
        for file in ["room.js", "host.js"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            for call in ["t(", "tn("] {
                for (at, _) in text.match_indices(call) {
                    let before = text[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                        continue;
                    }
                    let rest = text[at + call.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('\'') else {
                        continue;
                    };
                    used.insert(rest[..rest.find('\'').unwrap()].to_owned());
                }
            }
        }
        used
    }

    #[test]
    fn the_scripts_get_exactly_the_messages_they_use() {
        let used = used_by_scripts();
        let listed = listed();
        let missing: Vec<_> = used.difference(&listed).collect();
        let unused: Vec<_> = listed.difference(&used).collect();
        assert!(
            missing.is_empty(),
            "used by the scripts, not sent: {missing:?}"
        );
        assert!(
            unused.is_empty(),
            "sent, not used by the scripts: {unused:?}"
        );
    }

    #[test]
    fn script_messages_are_json_with_placeholders_and_plural_forms() {
        let json: serde_json::Value =
            serde_json::from_str(&room_script_messages(&Tr::new(Lang::Fr))).unwrap();
        assert_eq!(json["script-connected"], "Connecté à {room}");
        assert_eq!(json["host-connected-count.one"], "{n} personne connectée.");
        assert_eq!(
            json["host-connected-count.other"],
            "{n} personnes connectées."
        );
        let en: serde_json::Value =
            serde_json::from_str(&room_script_messages(&Tr::new(Lang::En))).unwrap();
        for (id, _) in SCRIPT_MESSAGES {
            let text = en[*id].as_str().unwrap();
            assert_ne!(text, *id, "{id} is not in the English catalog");
        }
        assert_eq!(
            en["script-rate-limited.one"],
            "Too many requests. Try again in {seconds} second."
        );
    }
}
