//! Passkeys: after a first sign-in by SMS, a participant may register a WebAuthn
//! credential and later sign in with it instead of a code (issue 11).
//!
//! Everything lives in the [`Store`], in both backends:
//! - a user's credentials, under `passkeys:{username}`, each bound to a fingerprint of
//!   the phone number the user had proven when it was registered ([`records`]);
//! - each ceremony's state, five minutes, used once ([`ceremony`]). It never goes in
//!   the cookie: a client holding its own challenge state could replay it.
//!
//! A credential is only as good as the number it was proven with: a user who leaves
//! the list or whose number changes loses every passkey ([`janitor`] on reload, and
//! again at sign-in in case a change happened while nobody watched).

pub mod admin;
pub mod ceremony;
pub mod flow;
pub mod janitor;
pub mod records;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;
use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::{AllowCredentials, PublicKeyCredentialRequestOptions};

use crate::domain::PhoneNumber;
use crate::store::Store;

pub use ceremony::{Ceremony, session_binding};
pub use records::{StoredPasskey, UserPasskeys};

/// How long a browser has to answer a ceremony, and how long its state is kept.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// At most this many passkeys per user: each one is sent in every sign-in's options.
pub const MAX_PER_USER: usize = 10;

/// `ROOMGATE_PASSKEYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasskeyMode {
    /// No passkey buttons, no passkey endpoints.
    Off,
    /// Participants may register a passkey after a code and use it instead of one.
    #[default]
    Optional,
}

impl PasskeyMode {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        match var("ROOMGATE_PASSKEYS").as_deref().map(str::trim) {
            None | Some("") | Some("optional") => Ok(Self::Optional),
            Some("off") => Ok(Self::Off),
            Some(other) => Err(format!(
                "ROOMGATE_PASSKEYS must be \"off\" or \"optional\" (got {other:?})"
            )),
        }
    }
}

/// Why passkeys can't be offered with this public URL.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error(
        "passkeys need a host name in ROOMGATE_PUBLIC_URL, not an IP address ({0}): browsers refuse WebAuthn there; in local mode use http://localhost:PORT"
    )]
    NotADomain(String),
    #[error(
        "passkeys need an https ROOMGATE_PUBLIC_URL, not {0}: browsers allow WebAuthn only in a secure context (https, or http://localhost)"
    )]
    NotSecure(String),
    #[error("passkeys can't use ROOMGATE_PUBLIC_URL {url}: {reason}")]
    Refused { url: String, reason: String },
}

/// Keys the phone fingerprints that bind a passkey (and a verified session) to the
/// number proven by SMS: a plain hash of a phone number is undone by hashing every
/// number in the plan. Derived from the session key, so every instance agrees, and
/// rotating that key unbinds (so revokes) every passkey.
///
/// Kept keyed: a clone of the keyed HMAC is a copy, where keying it anew hashes the key
/// twice. Every sign-in and every member request (whose session holds a fingerprint)
/// works one out.
#[derive(Clone)]
pub struct PhoneKey(Hmac<Sha256>);

impl PhoneKey {
    pub fn new(secret: &[u8]) -> Self {
        let key = derive(secret, b"roomgate passkey phone key\0");
        Self(Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any size"))
    }

    /// An HMAC of the E.164 number, never the number.
    pub fn fingerprint(&self, phone: &PhoneNumber) -> String {
        hex::encode(self.digest(phone))
    }

    /// The first 4 bytes of [`Self::fingerprint`], for a whole list kept compactly
    /// (`acl::departures::Members`): enough to tell that a user's number changed, but
    /// for one change in 4 billion.
    pub fn short_fingerprint(&self, phone: &PhoneNumber) -> u32 {
        let digest = self.digest(phone);
        u32::from_be_bytes(digest[..4].try_into().expect("4 of 16 bytes"))
    }

    /// Whether `fingerprint` is `phone`'s (without making a string of it).
    pub fn matches(&self, phone: &PhoneNumber, fingerprint: &str) -> bool {
        let mut hex = [0u8; 32];
        hex::encode_to_slice(self.digest(phone), &mut hex).expect("16 bytes are 32 hex digits");
        hex.as_slice() == fingerprint.as_bytes()
    }

    fn digest(&self, phone: &PhoneNumber) -> [u8; 16] {
        let mut mac = self.0.clone();
        mac.update(phone.expose_e164().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        first
    }
}

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneKey(..)")
    }
}

/// The relying party: webauthn-rs configured for the public URL, and the keys that
/// bind credentials to phone numbers and make unknown names' options.
pub struct Passkeys {
    webauthn: Webauthn,
    store: Arc<dyn Store>,
    /// Keys the phone fingerprint.
    phone_key: PhoneKey,
    /// Makes options for a name without passkeys that look like a real user's,
    /// the same each time for the same name.
    fakes: WebauthnFakeCredentialGenerator<FakePasskeyDistribution>,
    rp_id: String,
}

impl Passkeys {
    /// The relying party ID is the public URL's host and the origin the URL itself.
    /// `secret` is the shared session key: instances given the same one agree on
    /// fingerprints and fake options.
    pub fn new(
        public_url: &Url,
        store: Arc<dyn Store>,
        secret: &[u8],
    ) -> Result<Self, Unavailable> {
        let url = public_url.origin().ascii_serialization();
        let Some(rp_id) = public_url.domain() else {
            return Err(Unavailable::NotADomain(url));
        };
        // webauthn-rs would take it, and every browser would refuse the ceremony: the
        // page would offer a button that can't work.
        let localhost = rp_id == "localhost" || rp_id.ends_with(".localhost");
        if public_url.scheme() != "https" && !localhost {
            return Err(Unavailable::NotSecure(url));
        }
        let refused = |e: &dyn std::fmt::Display| Unavailable::Refused {
            url: url.clone(),
            reason: e.to_string(),
        };
        let webauthn = WebauthnBuilder::new(rp_id, public_url)
            .map_err(|e| refused(&e))?
            .rp_name("roomgate")
            .timeout(CEREMONY_TTL)
            .build()
            .map_err(|e| refused(&e))?;
        let phone_key = PhoneKey::new(secret);
        let fakes = WebauthnFakeCredentialGenerator::new(&derive(
            secret,
            b"roomgate passkey fake credentials\0",
        ))
        .map_err(|e| refused(&e))?;
        Ok(Self {
            webauthn,
            store,
            phone_key,
            fakes,
            rp_id: rp_id.to_owned(),
        })
    }

    /// What a credential is bound to: see [`PhoneKey::fingerprint`].
    pub fn phone_fingerprint(&self, phone: &PhoneNumber) -> String {
        self.phone_key.fingerprint(phone)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Options for a registration that excludes the user's passkeys.
    pub fn start_registration(
        &self,
        handle: Uuid,
        username: &str,
        exclude: Vec<Vec<u8>>,
    ) -> anyhow::Result<(CreationChallengeResponse, PasskeyRegistration)> {
        Ok(self
            .webauthn
            .start_passkey_registration(handle, username, username, Some(exclude))?)
    }

    pub fn finish_registration(
        &self,
        response: &RegisterPublicKeyCredential,
        state: &PasskeyRegistration,
    ) -> anyhow::Result<Passkey> {
        Ok(self.webauthn.finish_passkey_registration(response, state)?)
    }

    /// Real options for real credentials (not empty), or convincing ones made up for
    /// `who` with no state to check them against. Both look alike: see
    /// [`Self::fake_options`].
    pub fn sign_in_options(
        &self,
        who: &str,
        credentials: &[Passkey],
    ) -> (RequestChallengeResponse, Option<PasskeyAuthentication>) {
        if !credentials.is_empty() {
            match self.webauthn.start_passkey_authentication(credentials) {
                Ok((mut options, state)) => {
                    strip_transports(&mut options);
                    return (options, Some(state));
                }
                Err(e) => {
                    tracing::error!(error = %e, "passkey options not made; answering as for a name without passkeys")
                }
            }
        }
        (self.fake_options(who), None)
    }

    /// What an unknown name (or one without passkeys) is answered: a fresh challenge
    /// and credential ids derived from the name under a server secret, so asking twice
    /// shows the same ids, as it would for a real user.
    fn fake_options(&self, who: &str) -> RequestChallengeResponse {
        // The generator gives about one name in six no credential at all; a real
        // answer always has one, so such a name takes the ids of the first derived
        // name (`who`, then `who` and one NUL, two…) that has some. Every id comes
        // from the generator, keyed by the server secret: none can be told from a
        // real one, or worked out, without it. (64 tries all empty: about one name
        // in 10^51.)
        let mut name = who.to_owned();
        let ids = std::iter::from_fn(|| {
            let ids = self.fakes.generate(name.as_bytes()).ok();
            name.push('\0');
            Some(ids)
        })
        .take(64)
        .flatten()
        .find(|ids| !ids.is_empty())
        .unwrap_or_default();
        RequestChallengeResponse {
            public_key: PublicKeyCredentialRequestOptions {
                challenge: random_bytes(),
                timeout: Some(millis(CEREMONY_TTL)),
                rp_id: self.rp_id.clone(),
                allow_credentials: ids
                    .into_iter()
                    .map(|id| AllowCredentials {
                        type_: "public-key".to_owned(),
                        id,
                        transports: None,
                    })
                    .collect(),
                user_verification: webauthn_rs_proto::UserVerificationPolicy::Required,
                hints: None,
                extensions: None,
            },
            mediation: None,
        }
    }

    pub fn finish_sign_in(
        &self,
        response: &PublicKeyCredential,
        state: &PasskeyAuthentication,
    ) -> Result<webauthn_rs::prelude::AuthenticationResult, BadAssertion> {
        self.webauthn
            .finish_passkey_authentication(response, state)
            .map_err(|e| match e {
                // Checked after the signature: the authenticator holds the key, and
                // its counter is not above the one saved when the options were made.
                WebauthnError::CredentialPossibleCompromise => BadAssertion::CounterBehind,
                _ => BadAssertion::Invalid,
            })
    }
}

/// Why an assertion was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BadAssertion {
    /// Signed by the credential, with a signature counter at or below the saved one:
    /// WebAuthn's sign of a cloned authenticator.
    CounterBehind,
    /// Anything else: not signed by the credential, wrong origin, flags, challenge…
    Invalid,
}

/// A credential's transports would tell a real answer from a made-up one (which has
/// none to show); without them the browser simply tries every transport.
fn strip_transports(options: &mut RequestChallengeResponse) {
    for allowed in &mut options.public_key.allow_credentials {
        allowed.transports = None;
    }
}

fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn random_bytes() -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// A credential's id as shown and as typed: base64url without padding.
pub fn credential_id(passkey: &Passkey) -> String {
    encode_id(passkey.cred_id())
}

fn encode_id(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Whether the passkey a session was verified with (if it was) is still one of its
/// user's, bound to `phone` (the fingerprint of the number the list has now, when
/// passkeys are on): a revoked one (by its owner or a host), or one the list's number
/// no longer matches, ends the sessions it opened.
pub async fn still_holds(
    store: &dyn Store,
    grant: &crate::session::Grant,
    phone: Option<&str>,
) -> Result<bool, crate::store::StoreError> {
    let Some(id) = &grant.passkey else {
        return Ok(true);
    };
    let held = records::load(store, grant.username.as_str()).await?;
    // Bound to the list's number, as a sign-in checks: a passkey whose number the
    // list has changed ends its sessions even before the clean-up deletes it.
    Ok(held.is_some_and(|record| {
        record
            .credentials
            .iter()
            .any(|c| &c.id() == id && phone.is_none_or(|phone| c.phone == phone))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// A number's fingerprint: the same from every key made of one secret, matched
    /// by that number only.
    #[test]
    fn a_fingerprint_matches_its_number_only() {
        let (alice, bob) = (
            PhoneNumber::parse("+14155550101").unwrap(),
            PhoneNumber::parse("+14155550102").unwrap(),
        );
        let key = PhoneKey::new(b"a session key");
        let print = key.fingerprint(&alice);
        assert_eq!(print.len(), 32);
        assert_eq!(PhoneKey::new(b"a session key").fingerprint(&alice), print);
        assert_ne!(PhoneKey::new(b"another key").fingerprint(&alice), print);
        assert!(key.matches(&alice, &print));
        assert!(!key.matches(&bob, &print));
        assert!(!key.matches(&alice, &print[..31]));
    }

    fn passkeys() -> Passkeys {
        let url = Url::parse("http://localhost:8080").unwrap();
        Passkeys::new(&url, Arc::new(MemoryStore::new()), b"secret").unwrap()
    }

    #[test]
    fn the_mode_is_optional_unless_turned_off() {
        assert_eq!(
            PasskeyMode::from_lookup(|_| None),
            Ok(PasskeyMode::Optional)
        );
        assert_eq!(
            PasskeyMode::from_lookup(|_| Some("off".into())),
            Ok(PasskeyMode::Off)
        );
        assert!(PasskeyMode::from_lookup(|_| Some("required".into())).is_err());
    }

    #[test]
    fn an_ip_address_cannot_be_the_relying_party() {
        let url = Url::parse("http://127.0.0.1:8080").unwrap();
        let refused = Passkeys::new(&url, Arc::new(MemoryStore::new()), b"secret");
        assert!(matches!(refused, Err(Unavailable::NotADomain(_))));
    }

    #[test]
    fn plain_http_is_only_for_localhost() {
        let new = |url: &str| {
            Passkeys::new(
                &Url::parse(url).unwrap(),
                Arc::new(MemoryStore::new()),
                b"secret",
            )
        };
        let refused = new("http://meet.example.com");
        assert!(matches!(refused, Err(Unavailable::NotSecure(_))));
        let message = refused.err().unwrap().to_string();
        assert!(message.contains("http://meet.example.com"), "{message}");
        for url in [
            "https://meet.example.com",
            "http://localhost:8080",
            "http://rooms.localhost:8080",
        ] {
            assert!(new(url).is_ok(), "{url}");
        }
    }

    /// About one name in six gets no ids from the generator; it gets those of a name
    /// derived from it, from the same generator under the same secret (it got one id
    /// keyed by the name alone, which anyone could work out).
    #[test]
    fn a_name_the_generator_gives_no_ids_gets_a_derived_names_ids() {
        let p = passkeys();
        let generated = |name: &str| p.fakes.generate(name.as_bytes()).unwrap();
        let empty: Vec<String> = (0..300)
            .map(|n| format!("user{n}"))
            .filter(|name| generated(name).is_empty())
            .collect();
        assert!(empty.len() > 10, "{}", empty.len());
        for name in &empty {
            let offered: Vec<_> = p
                .fake_options(name)
                .public_key
                .allow_credentials
                .into_iter()
                .map(|c| c.id)
                .collect();
            let derived = (1..64)
                .map(|nuls| generated(&format!("{name}{}", "\0".repeat(nuls))))
                .find(|ids| !ids.is_empty())
                .unwrap();
            assert_eq!(offered, derived, "{name}");
        }
    }

    #[test]
    fn made_up_options_are_stable_per_name_and_never_empty() {
        let p = passkeys();
        for name in ["a", "b", "c", "d", "mallory", "nobody-at-all"] {
            let first = p.fake_options(name).public_key;
            let again = p.fake_options(name).public_key;
            assert!(!first.allow_credentials.is_empty(), "{name}");
            let ids = |o: &PublicKeyCredentialRequestOptions| {
                o.allow_credentials
                    .iter()
                    .map(|c| c.id.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&first), ids(&again), "{name}");
            assert_ne!(
                first.challenge, again.challenge,
                "a fresh challenge each time"
            );
            assert_eq!(first.rp_id, "localhost");
        }
    }

    #[test]
    fn fingerprints_differ_by_number_and_hide_it() {
        let p = passkeys();
        let a = PhoneNumber::parse("+14155550101").unwrap();
        let b = PhoneNumber::parse("+14155550102").unwrap();
        assert_ne!(p.phone_fingerprint(&a), p.phone_fingerprint(&b));
        assert_eq!(p.phone_fingerprint(&a), p.phone_fingerprint(&a));
        assert!(!p.phone_fingerprint(&a).contains("4155550101"));
    }
}
