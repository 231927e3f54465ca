//! Video access tokens, shaped like the ones `twilio-node`'s `AccessToken` emits by
//! default:
//!
//! - header `{"typ":"JWT","alg":"HS256","cty":"twilio-fpa;v=1"}` (no `kid`, no `twr`);
//! - claims `jti` = `<API Key SID>-<iat>`, `iss` = API Key SID, `sub` = Account SID,
//!   `iat`, `exp` = `iat` + TTL, and
//!   `grants` = `{"identity": <username>, "video": {"room": <room>}}`;
//! - HS256 over the API Key secret's UTF-8 bytes.
//!
//! No `nbf`: `twilio-node` and `twilio-java` add one only when asked to
//! (`twilio-python` adds `nbf` = now but no `iat`; Twilio accepts both shapes).
//! The `jti` has no random suffix: it is exactly what the helper libraries emit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::{RoomName, Username};
use crate::twilio::credentials::ApiKeys;

/// The longest TTL Twilio accepts for an access token.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// `cty` of every Twilio access token.
const CONTENT_TYPE: &str = "twilio-fpa;v=1";

/// Mints Video access tokens for one API Key.
pub struct AccessTokenIssuer {
    account_sid: String,
    /// The API Key in service: its secret signs, its SID is the issuer.
    keys: ApiKeys,
    header: Header,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AccessTokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenIssuer")
            .field("account_sid", &self.account_sid)
            .field("api_key", &self.keys)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A minted token and what it grants. `jwt` goes to the participant's browser only.
#[derive(Clone)]
pub struct AccessToken {
    pub jwt: SecretString,
    /// The Video identity (the username).
    pub identity: String,
    pub room: String,
    /// Unix seconds (the `exp` claim).
    pub expires_at: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("jwt", &"[REDACTED]")
            .field("identity", &self.identity)
            .field("room", &self.room)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims<'a> {
    jti: String,
    iss: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
    grants: Grants<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Grants<'a> {
    identity: &'a str,
    video: VideoGrant<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
struct VideoGrant<'a> {
    room: &'a str,
}

impl AccessTokenIssuer {
    /// `ttl` must be between 1 second and [`MAX_TTL`]; [`mint`](Self::mint) refuses
    /// otherwise.
    pub fn new(account_sid: String, keys: ApiKeys, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let mut header = Header::new(Algorithm::HS256);
        header.cty = Some(CONTENT_TYPE.to_owned());
        Self {
            account_sid,
            keys,
            header,
            ttl,
            clock,
        }
    }

    /// The configured token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token letting `identity` join `room` (and only that room) until now + TTL.
    pub fn mint(&self, identity: &Username, room: &RoomName) -> Result<AccessToken, anyhow::Error> {
        let ttl = self.ttl.as_secs();
        ensure!(
            (1..=MAX_TTL.as_secs()).contains(&ttl),
            "access token TTL must be 1 s to 24 h, got {ttl} s"
        );
        let iat = self.clock.unix_seconds();
        let exp = iat + ttl;
        // One key for the whole token, even if a rotation lands mid-mint.
        let api_key = self.keys.current();
        let claims = Claims {
            jti: format!("{}-{iat}", api_key.sid),
            iss: &api_key.sid,
            sub: &self.account_sid,
            iat,
            exp,
            grants: Grants {
                identity: identity.as_str(),
                video: VideoGrant {
                    room: room.as_str(),
                },
            },
        };
        let key = EncodingKey::from_secret(api_key.secret.expose_secret().as_bytes());
        let jwt = jsonwebtoken::encode(&self.header, &claims, &key)
            .context("signing the Video access token")?;
        Ok(AccessToken {
            jwt: SecretString::from(jwt),
            identity: identity.as_str().to_owned(),
            room: room.as_str().to_owned(),
            expires_at: exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{DecodingKey, Validation, decode};
    use serde_json::{Value, json};

    use super::*;
    use crate::clock::ManualClock;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const KEY_SID: &str = "SK00000000000000000000000000000002";
    const SECRET: &str = "s3cr3t-api-key-secret-0123456789";

    fn issuer(ttl: Duration) -> (AccessTokenIssuer, Arc<ManualClock>) {
        // Real "now", so `decode`'s exp check holds.
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let issuer = AccessTokenIssuer::new(
            ACCOUNT.to_owned(),
            ApiKeys::fixed(KEY_SID, SECRET),
            ttl,
            clock.clone(),
        );
        (issuer, clock)
    }

    fn mint(issuer: &AccessTokenIssuer) -> AccessToken {
        issuer
            .mint(
                &Username::parse("alice").unwrap(),
                &RoomName::parse("standup").unwrap(),
            )
            .unwrap()
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[KEY_SID]);
        v.sub = Some(ACCOUNT.to_owned());
        v.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        v
    }

    #[test]
    fn token_decodes_with_exactly_twilios_claims() {
        let (issuer, clock) = issuer(Duration::from_secs(3600));
        let token = mint(&issuer);
        let iat = clock.unix_seconds();

        let data = decode::<Value>(
            token.jwt.expose_secret(),
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &validation(),
        )
        .unwrap();
        assert_eq!(
            data.claims,
            json!({
                "jti": format!("{KEY_SID}-{iat}"),
                "iss": KEY_SID,
                "sub": ACCOUNT,
                "iat": iat,
                "exp": iat + 3600,
                "grants": {
                    "identity": "alice",
                    "video": { "room": "standup" }
                }
            })
        );
        assert_eq!(
            data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap(),
            3600
        );
        assert_eq!(data.header.alg, Algorithm::HS256);
        assert_eq!(token.expires_at, iat + 3600);
        assert_eq!(token.identity, "alice");
        assert_eq!(token.room, "standup");
    }

    #[test]
    fn header_is_exactly_twilios() {
        let (issuer, _) = issuer(Duration::from_secs(600));
        let token = mint(&issuer);
        let jwt = token.jwt.expose_secret();
        assert_eq!(jwt.split('.').count(), 3);
        let first = jwt.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "HS256", "cty": "twilio-fpa;v=1"})
        );
    }

    #[test]
    fn exp_follows_the_injected_clock_and_ttl() {
        let (issuer, clock) = issuer(Duration::from_secs(14_400));
        let before = mint(&issuer);
        clock.advance(Duration::from_secs(90));
        let after = mint(&issuer);
        assert_eq!(after.expires_at - before.expires_at, 90);
        assert_eq!(after.expires_at, clock.unix_seconds() + 14_400);
    }

    #[test]
    fn another_secret_does_not_verify() {
        let (issuer, _) = issuer(Duration::from_secs(3600));
        let token = mint(&issuer);
        let err = decode::<Value>(
            token.jwt.expose_secret(),
            &DecodingKey::from_secret(b"some-other-secret"),
            &validation(),
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            &jsonwebtoken::errors::ErrorKind::InvalidSignature
        );

        // And a token signed with another secret doesn't pass for ours.
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let forger = AccessTokenIssuer::new(
            ACCOUNT.to_owned(),
            ApiKeys::fixed(KEY_SID, "not-the-secret"),
            Duration::from_secs(3600),
            clock,
        );
        let forged = mint(&forger);
        assert!(
            decode::<Value>(
                forged.jwt.expose_secret(),
                &DecodingKey::from_secret(SECRET.as_bytes()),
                &validation(),
            )
            .is_err()
        );
    }

    #[test]
    fn ttl_out_of_range_is_refused() {
        for ttl in [
            Duration::ZERO,
            Duration::from_millis(500),
            MAX_TTL + Duration::from_secs(1),
        ] {
            let (issuer, _) = issuer(ttl);
            let user = Username::parse("alice").unwrap();
            let room = RoomName::parse("standup").unwrap();
            assert!(issuer.mint(&user, &room).is_err(), "{ttl:?}");
        }
        let (issuer, _) = issuer(MAX_TTL);
        mint(&issuer);
    }

    #[test]
    fn debug_never_shows_secret_or_jwt() {
        let (issuer, _) = issuer(Duration::from_secs(3600));
        let token = mint(&issuer);
        let dbg = format!("{issuer:?} {token:?}");
        assert!(!dbg.contains(SECRET), "{dbg}");
        assert!(!dbg.contains(token.jwt.expose_secret()), "{dbg}");
        let signature = token.jwt.expose_secret().rsplit('.').next().unwrap();
        assert!(!dbg.contains(signature), "{dbg}");
        assert!(dbg.contains(KEY_SID));
    }
}
