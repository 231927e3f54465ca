//! The messages the room page's scripts show, sent with the page as JSON in its
//! `#i18n` data block (`templates/room.html`), so the scripts need no catalog of their
//! own. The JSON depends only on the language, so each language's is built once and
//! shared: building it (about 60 Fluent lookups, then JSON) was 8 % of the server's
//! CPU under load when it ran on every room page.

use std::sync::{Arc, OnceLock};

use super::{Arg, LOCALES, Lang, Tr};

/// The messages the room page's scripts (room.js, host.js) show, with the variables
/// each takes. A variable reaches the script as the text `{name}`, which the script
/// fills in.
const SCRIPT_MESSAGES: &[(&str, &[&str])] = &[
    ("room-retry", &[]),
    ("room-mute-mic", &[]),
    ("room-camera-off", &[]),
    ("room-no-video", &[]),
    ("room-you", &["name"]),
    ("script-participant-joined", &["name"]),
    ("script-participant-left", &["name"]),
    ("script-recording-started", &[]),
    ("script-recording-stopped", &[]),
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
    ("host-busy", &[]),
    ("host-remove", &[]),
    ("host-remove-label", &["name"]),
    ("host-nobody", &[]),
    ("host-list-unreachable", &[]),
    ("host-confirm-remove", &["name"]),
    ("host-removed", &["name"]),
    ("host-confirm-end", &[]),
    ("host-recording-started", &[]),
    ("host-recording-stopped", &[]),
    ("host-recording-not-allowed", &[]),
];

/// Messages with plural forms: `$count` picks the form. Each goes to the script
/// twice, as `id.one` and `id.other` (rendered with a count of 1 and of 2), and the
/// script picks one with the browser's plural rules for the page's language.
const SCRIPT_PLURALS: &[(&str, &[&str])] = &[
    ("script-removed-rejoin", &["minutes"]),
    ("script-rate-limited", &["seconds"]),
    ("host-connected-count", &["n"]),
];

impl Tr {
    /// The room page's script messages, as JSON for the page's `#i18n` data block.
    /// The scripts keep English fallbacks for any that's missing.
    pub fn script_messages(&self) -> Arc<str> {
        // Built once per language with roomgate's catalogs; other catalogs (tests
        // with gaps) are rendered each time.
        static BUILT: [OnceLock<Arc<str>>; Lang::ALL.len()] =
            [const { OnceLock::new() }; Lang::ALL.len()];
        if !std::ptr::eq(self.loader, &*LOCALES) {
            return render(self).into();
        }
        let slot = Lang::ALL
            .iter()
            .position(|l| *l == self.lang())
            .unwrap_or(0);
        BUILT[slot].get_or_init(|| render(self).into()).clone()
    }
}

fn render(tr: &Tr) -> String {
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
            serde_json::from_str(&Tr::new(Lang::Fr).script_messages()).unwrap();
        assert_eq!(json["script-connected"], "Connecté à {room}");
        assert_eq!(json["host-connected-count.one"], "{n} personne connectée.");
        assert_eq!(
            json["host-connected-count.other"],
            "{n} personnes connectées."
        );
        let en: serde_json::Value =
            serde_json::from_str(&Tr::new(Lang::En).script_messages()).unwrap();
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
