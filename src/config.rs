//! Settings from the environment (`.env` in development), validated as a whole so a
//! bad start-up reports every problem at once, one line each, without secret values.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rand::RngCore;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::acl::AclPolicy;
use crate::audit::AuditConfig;
use crate::budget::BudgetConfig;
use crate::client_ip::TrustedProxies;
use crate::domain::RoomName;
use crate::env::Env;
use crate::limits::LimitsConfig;
use crate::recordings::pipeline::PipelineSettings;
use crate::recordings::storage::StorageSettings;
use crate::store::StoreSettings;
use crate::twilio::credentials::secret_var;
use crate::twilio::guard::GuardConfig;
use crate::video::RoomBackoff;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9090";
pub const DEFAULT_ACL: &str = "acl.toml";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 14_400;
pub const DEFAULT_SESSION_TTL_SECS: u64 = 12 * 3600;
/// The longest `ROOMGATE_SESSION_TTL` taken.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(30 * 86_400);
pub use crate::twilio::verify::DEFAULT_BASE_URL as DEFAULT_VERIFY_BASE_URL;
pub use crate::video::rest::DEFAULT_BASE_URL as DEFAULT_VIDEO_BASE_URL;

/// Pinned so a new SDK release can't change the room page under us.
pub const DEFAULT_VIDEO_SDK_URL: &str =
    "https://sdk.twilio.com/js/video/releases/2.32.1/twilio-video.min.js";
const MIN_SESSION_KEY_BYTES: usize = 64;
/// Variables that may instead name a file holding the value (`NAME_FILE`).
const SECRET_VARS: [&str; 5] = [
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_AUTH_TOKEN",
    "ROOMGATE_SESSION_KEY",
    // Its password is a secret like the others.
    "ROOMGATE_REDIS_URL",
];
const TWILIO_VARS: [&str; 4] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_VERIFY_SERVICE_SID",
];
/// Compared against so a copied-but-unedited `.env.example` is caught at start-up.
const ENV_EXAMPLE: &str = include_str!("../.env.example");

/// Bytes that sign and encrypt the session cookies.
pub struct SessionKey(SecretBox<Vec<u8>>);

impl SessionKey {
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    fn random() -> Self {
        let mut bytes = vec![0u8; MIN_SESSION_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// The key kept in `DIR/session.key` (made on first use, mode 0600): what local
    /// mode uses when no key is configured, so sessions, and passkeys bound through
    /// it, outlive a restart.
    pub fn kept_in(dir: &std::path::Path) -> std::io::Result<Self> {
        let bytes = crate::random::kept_secret(
            &dir.join("session.key"),
            MIN_SESSION_KEY_BYTES,
            "session key",
        )?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([REDACTED])")
    }
}

/// The Twilio account roomgate acts for. Only an API Key, never the Auth Token.
pub struct TwilioSettings {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: SecretString,
    /// Where the key came from, when from files: re-read on `SIGHUP` (rotation).
    pub api_key_sid_file: Option<PathBuf>,
    pub api_key_secret_file: Option<PathBuf>,
    pub verify_service_sid: String,
    pub verify_base_url: String,
    pub video_base_url: String,
    /// Used for one thing only: checking `X-Twilio-Signature` on webhooks.
    pub auth_token: Option<SecretString>,
    pub auth_token_file: Option<PathBuf>,
}

impl fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("api_key_secret", &"[REDACTED]")
            .field("verify_service_sid", &self.verify_service_sid)
            .field("verify_base_url", &self.verify_base_url)
            .field("video_base_url", &self.video_base_url)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per process
pub enum Mode {
    /// No Twilio credentials: embedded verifier, codes on the terminal, loopback only.
    Local,
    Twilio(TwilioSettings),
}

#[derive(Debug)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Where `/metrics` and the detailed `/readyz` are served: not the public address.
    pub admin_addr: SocketAddr,
    /// Host names the admin listener answers to, besides IP addresses and `localhost`
    /// (`ROOMGATE_ADMIN_HOSTS`): any other is refused, so a web page can't read it
    /// through a name it rebinds to this machine (DNS rebinding).
    pub admin_hosts: Vec<String>,
    pub acl_path: PathBuf,
    /// Which numbers the ACL may hold (`ROOMGATE_ALLOWED_COUNTRIES`).
    pub acl_policy: AclPolicy,
    pub public_url: Url,
    pub default_room: Option<RoomName>,
    pub session_key: SessionKey,
    /// True when no key was configured and a random one was made (local mode only):
    /// sessions then end at every restart.
    pub session_key_generated: bool,
    pub token_ttl: Duration,
    /// How long a verified session lasts at most.
    pub session_ttl: Duration,
    pub trusted_proxies: TrustedProxies,
    pub limits: LimitsConfig,
    pub budget: BudgetConfig,
    /// The outbound guards' limits and room creation's backoff.
    pub outbound: OutboundLimits,
    pub audit: AuditConfig,
    pub video_sdk_url: Url,
    /// Where state lives: the embedded store or Redis.
    pub store: StoreSettings,
    /// Where recordings' files go (a bucket, or the data directory) and how long
    /// their links live.
    pub recordings: StorageSettings,
    /// The recordings pipeline's lease and retry timings.
    pub pipeline: PipelineSettings,
    /// `ROOMGATE_PASSKEYS`.
    pub passkeys: crate::passkeys::PasskeyMode,
    pub mode: Mode,
    /// Things worth a warning at start-up that don't stop it.
    pub warnings: Vec<String>,
}

/// The public URL when none is set: where the service listens, so links and messages
/// name the port it is on (`--addr 127.0.0.1:3000` gives `http://127.0.0.1:3000`).
/// Loopback stands in for an unspecified address; an ephemeral port (0) is not known
/// yet, so it gives [`DEFAULT_PUBLIC_URL`].
fn default_public_url(addr: SocketAddr) -> String {
    if addr.port() == 0 {
        return DEFAULT_PUBLIC_URL.to_owned();
    }
    let ip = match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => addr.ip(),
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The public URL `serve` would have with this environment: `ROOMGATE_PUBLIC_URL`, or
/// else where `ROOMGATE_ADDR` listens. For the host's commands, which print links
/// without a server to ask; anything unreadable gives the default, as `serve` would
/// refuse to start with it.
pub fn public_url(var: impl Fn(&str) -> Option<String>) -> Url {
    let addr = var("ROOMGATE_ADDR")
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .map_or_else(|| DEFAULT_PUBLIC_URL.to_owned(), default_public_url);
    var("ROOMGATE_PUBLIC_URL")
        .filter(|url| !url.trim().is_empty())
        .and_then(|url| crate::env::parse_http_url(url.trim()))
        .or_else(|| crate::env::parse_http_url(&addr))
        .unwrap_or_else(|| Url::parse(DEFAULT_PUBLIC_URL).expect("a URL"))
}

/// Loads `.env` from the current directory, if there is one, into the environment
/// (variables already set win). Only there: `dotenvy::dotenv` would also take one from
/// any directory above, where a stray `.env` could switch a production service's
/// mode, credentials or policy.
///
/// A file that can't be read or parsed loads nothing (not the lines before the bad
/// one: a service half configured is worse than one that doesn't start) and is an
/// error that names the line, never its text: the line may hold a secret, and
/// dotenvy's own message quotes it, with every line after it when a quote is left
/// open.
pub fn load_dotenv() -> Result<(), String> {
    load_dotenv_from(std::path::Path::new(".env"))
}

fn load_dotenv_from(path: &std::path::Path) -> Result<(), String> {
    let unreadable = |e: dotenvy::Error| match e {
        dotenvy::Error::LineParse(rest, _) => {
            let line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| {
                    let first = rest.lines().next()?;
                    let at = text.find(first)?;
                    Some(text[..at].matches('\n').count() + 1)
                })
                .map_or_else(String::new, |n| format!(" at line {n}"));
            format!(
                "{}: cannot parse{line} (an unclosed quote, or a space in a value without quotes?); nothing in it was loaded",
                path.display()
            )
        }
        dotenvy::Error::Io(e) => format!("{}: cannot read it: {e}", path.display()),
        dotenvy::Error::EnvVar(_) => format!(
            "{}: a variable it refers to is not valid UTF-8; nothing in it was loaded",
            path.display()
        ),
        _ => format!("{}: cannot load it", path.display()),
    };
    let lines = match dotenvy::from_path_iter(path) {
        Ok(lines) => lines,
        Err(e) if e.not_found() => return Ok(()),
        Err(e) => return Err(unreadable(e)),
    };
    for line in lines {
        line.map_err(unreadable)?;
    }
    dotenvy::from_path(path).map_err(unreadable)
}

impl Settings {
    /// `https` public URL: cookies get `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Read from the process environment, after loading `.env` if there is one
    /// ([`load_dotenv`]).
    /// `overrides` (command-line flags) win over the environment.
    pub fn from_env(overrides: &[(&str, Option<String>)]) -> Result<Self, ConfigErrors> {
        load_dotenv().map_err(|e| ConfigErrors(vec![e]))?;
        let mut settings = Self::from_lookup(|name| {
            overrides
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
        })?;
        let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
        settings.warnings.extend(crate::env::unknown_names(names));
        Ok(settings)
    }

    /// Build from any variable source (tests pass a map).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let plain = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();

        // Secrets may come from files instead (`NAME_FILE`); read them once here and
        // remember the files, so `SIGHUP` can read them again.
        let mut from_files: HashMap<&str, (String, PathBuf)> = HashMap::new();
        let mut direct: HashMap<&str, String> = HashMap::new();
        for name in SECRET_VARS {
            match secret_var(plain, name) {
                Ok((Some(value), Some(file))) => {
                    from_files.insert(name, (value, file));
                }
                Ok((Some(value), None)) => {
                    direct.insert(name, value);
                }
                Ok((None, _)) => {}
                Err(e) => errors.push(e),
            }
        }
        let secret_file = |name: &str| from_files.get(name).map(|(_, f)| f.clone());
        let var = |name: &str| match (from_files.get(name), direct.get(name)) {
            (Some((value, _)), _) | (None, Some(value)) => Some(value.clone()),
            (None, None) if SECRET_VARS.contains(&name) => None,
            (None, None) => plain(name),
        };

        let mut env = Env::with_errors(var, errors);

        for name in TWILIO_VARS.iter().copied().chain(["ROOMGATE_SESSION_KEY"]) {
            if let (Some(value), Some(placeholder)) = (var(name), example_value(name))
                && value == placeholder
            {
                env.push(format!("{name} is still the placeholder from .env.example"));
            }
        }

        let addr = var("ROOMGATE_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|_| {
                env.push(format!(
                    "ROOMGATE_ADDR must be an IP address and port, like {DEFAULT_ADDR} (got {addr:?})"
                ))
            })
            .ok();

        let admin_addr = var("ROOMGATE_ADMIN_ADDR").unwrap_or_else(|| DEFAULT_ADMIN_ADDR.into());
        let admin_addr = admin_addr
            .parse::<SocketAddr>()
            .map_err(|_| {
                env.push(format!(
                    "ROOMGATE_ADMIN_ADDR must be an IP address and port, like {DEFAULT_ADMIN_ADDR} (got {admin_addr:?})"
                ))
            })
            .ok();

        let admin_hosts = admin_hosts(var("ROOMGATE_ADMIN_HOSTS").as_deref())
            .map_err(|line| env.push(line))
            .unwrap_or_default();

        let acl_path = acl_path(var);
        let acl_policy = AclPolicy::from_lookup(var)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();

        let public_url = env.http_url(
            "ROOMGATE_PUBLIC_URL",
            &addr.map_or_else(|| DEFAULT_PUBLIC_URL.to_owned(), default_public_url),
        );
        // Links, cookies and the webhook's URL all start at the site's root: a path
        // (roomgate behind a proxy's /meet/) would be silently dropped from them.
        if let Some(url) = &public_url
            && (url.path() != "/" || url.query().is_some() || url.fragment().is_some())
        {
            env.push(format!(
                "ROOMGATE_PUBLIC_URL must be the site's root, like https://meet.example.com: \
                 roomgate can't be served under a path (got {url})"
            ));
        }
        let passkeys = crate::passkeys::PasskeyMode::from_lookup(var)
            .map_err(|e| env.push(e))
            .unwrap_or_default();

        let default_room = var("ROOMGATE_DEFAULT_ROOM").and_then(|r| {
            RoomName::parse(&r)
                .map_err(|e| env.push(format!("ROOMGATE_DEFAULT_ROOM: {e}")))
                .ok()
        });

        let token_ttl = env.seconds(
            "ROOMGATE_TOKEN_TTL",
            Duration::from_secs(DEFAULT_TOKEN_TTL_SECS),
            60..=86_400,
        );
        let session_ttl = env.seconds(
            "ROOMGATE_SESSION_TTL",
            Duration::from_secs(DEFAULT_SESSION_TTL_SECS),
            300..=MAX_SESSION_TTL.as_secs(),
        );

        let trusted_proxies =
            TrustedProxies::parse(&var("ROOMGATE_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| env.push(e))
                .unwrap_or_default();

        let limits = LimitsConfig::from_lookup(var)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();
        let budget = BudgetConfig::from_lookup(var)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();
        let outbound = OutboundLimits::from_lookup(var)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();
        let audit = AuditConfig::from_lookup(var).map_err(|lines| env.extend(lines));
        let store = StoreSettings::from_lookup(var).map_err(|lines| env.extend(lines));
        // Resolves its own `_FILE` variables, so it reads the plain environment.
        let recordings = StorageSettings::from_lookup(plain)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();
        let pipeline = PipelineSettings::from_lookup(var)
            .map_err(|lines| env.extend(lines))
            .unwrap_or_default();

        let video_sdk_url = env.http_url("ROOMGATE_VIDEO_SDK_URL", DEFAULT_VIDEO_SDK_URL);

        let present: Vec<&str> = TWILIO_VARS
            .iter()
            .copied()
            .filter(|n| var(n).is_some())
            .collect();
        let mode = if present.is_empty() {
            Some(Mode::Local)
        } else if present.len() < TWILIO_VARS.len() {
            let missing: Vec<&str> = TWILIO_VARS
                .iter()
                .copied()
                .filter(|n| !present.contains(n))
                .collect();
            env.push(format!(
                "Twilio mode needs all four Twilio variables; missing: {} (unset them all for local mode)",
                missing.join(", ")
            ));
            None
        } else {
            let mut sid = |name: &str, prefix: &str| {
                let value = var(name).unwrap_or_default();
                if !is_sid(&value, prefix) {
                    env.push(format!(
                        "{name} must be {prefix} followed by 32 hexadecimal digits"
                    ));
                }
                value
            };
            let account_sid = sid("TWILIO_ACCOUNT_SID", "AC");
            let api_key_sid = sid("TWILIO_API_KEY_SID", "SK");
            let verify_service_sid = sid("TWILIO_VERIFY_SERVICE_SID", "VA");
            let verify_base_url = env.http_url("TWILIO_VERIFY_BASE_URL", DEFAULT_VERIFY_BASE_URL);
            let video_base_url = env.http_url("TWILIO_VIDEO_BASE_URL", DEFAULT_VIDEO_BASE_URL);
            Some(Mode::Twilio(TwilioSettings {
                account_sid,
                api_key_sid,
                api_key_sid_file: secret_file("TWILIO_API_KEY_SID"),
                api_key_secret_file: secret_file("TWILIO_API_KEY_SECRET"),
                auth_token: var("TWILIO_AUTH_TOKEN").map(SecretString::from),
                auth_token_file: secret_file("TWILIO_AUTH_TOKEN"),
                video_base_url: video_base_url
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_default(),
                api_key_secret: SecretString::from(
                    var("TWILIO_API_KEY_SECRET").unwrap_or_default(),
                ),
                verify_service_sid,
                verify_base_url: verify_base_url
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_default(),
            }))
        };

        let (session_key, session_key_generated) = match var("ROOMGATE_SESSION_KEY") {
            Some(key) if key.len() >= MIN_SESSION_KEY_BYTES => (
                Some(SessionKey(SecretBox::new(Box::new(key.into_bytes())))),
                false,
            ),
            Some(key) => {
                env.push(format!(
                    "ROOMGATE_SESSION_KEY must be at least {MIN_SESSION_KEY_BYTES} bytes (it has {})",
                    key.len()
                ));
                (None, false)
            }
            None if matches!(mode, Some(Mode::Twilio(_))) => {
                env.push(format!(
                    "ROOMGATE_SESSION_KEY is required in Twilio mode (at least {MIN_SESSION_KEY_BYTES} random bytes)"
                ));
                (None, false)
            }
            None if matches!(store, Ok(StoreSettings::Redis { .. })) => {
                env.push(
                    "ROOMGATE_SESSION_KEY is required with ROOMGATE_REDIS_URL: every instance must share it"
                        .to_owned(),
                );
                (None, false)
            }
            None => (Some(SessionKey::random()), true),
        };

        // The Auth Token exists for webhooks only; say so when none can arrive.
        let mut warnings = Vec::new();
        if var("TWILIO_AUTH_TOKEN").is_some() {
            match (&mode, &public_url) {
                (Some(Mode::Local), _) => warnings.push(
                    "TWILIO_AUTH_TOKEN is set but unused: local mode receives no Twilio webhooks".to_owned(),
                ),
                (Some(Mode::Twilio(_)), Some(url))
                    if matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) =>
                {
                    warnings.push(format!(
                        "TWILIO_AUTH_TOKEN is set but ROOMGATE_PUBLIC_URL ({url}) is a loopback address Twilio's webhooks can't reach"
                    ))
                }
                _ => {}
            }
        }

        // /metrics and the detailed /readyz (which quotes the ACL's errors) are for
        // the operator; on every interface they are anyone's unless a firewall says no.
        if let (Some(Mode::Twilio(_)), Some(admin)) = (&mode, admin_addr)
            && admin.ip().is_unspecified()
        {
            warnings.push(format!(
                "ROOMGATE_ADMIN_ADDR {admin} listens on every interface: /metrics and the detailed /readyz are public unless a firewall keeps them private (give a private or loopback address)"
            ));
        }

        if matches!(store, Ok(StoreSettings::Redis { .. })) && recordings.s3.is_none() {
            warnings.push(
                "recordings are kept in this instance's ROOMGATE_DATA_DIR and served by it alone; instances sharing Redis need a bucket (ROOMGATE_RECORDINGS_S3_*)"
                    .to_owned(),
            );
        }

        for (name, addr) in [("ROOMGATE_ADDR", addr), ("ROOMGATE_ADMIN_ADDR", admin_addr)] {
            if let (Some(Mode::Local), Some(addr)) = (&mode, addr)
                && !addr.ip().is_loopback()
            {
                env.push(format!(
                    "local mode only listens on loopback addresses; {name} {addr} is not one (set the Twilio variables to serve other hosts)"
                ));
            }
        }
        // Nor is it served to others through a proxy: a public URL naming another host
        // is a production set-up whose Twilio variables are missing (an env file not
        // loaded), which would print everyone's codes to the journal and send none.
        if let (Some(Mode::Local), Some(url)) = (&mode, &public_url)
            && !is_loopback_host(url)
        {
            env.push(format!(
                "local mode is for this machine only; ROOMGATE_PUBLIC_URL {url} names another host (set the Twilio variables to serve it, or use http://localhost:PORT)"
            ));
        }

        match (
            addr,
            admin_addr,
            public_url,
            video_sdk_url,
            mode,
            session_key,
            audit,
            store,
        ) {
            (
                Some(addr),
                Some(admin_addr),
                Some(public_url),
                Some(video_sdk_url),
                Some(mode),
                Some(session_key),
                Ok(audit),
                Ok(store),
            ) if env.is_ok() => Ok(Self {
                addr,
                admin_addr,
                admin_hosts,
                acl_path,
                acl_policy,
                public_url,
                default_room,
                session_key,
                session_key_generated,
                token_ttl,
                session_ttl,
                trusted_proxies,
                limits,
                budget,
                outbound,
                audit,
                video_sdk_url,
                store,
                recordings,
                pipeline,
                passkeys,
                mode,
                warnings,
            }),
            _ => Err(ConfigErrors(env.into_errors())),
        }
    }
}

/// How much each outbound service may be asked at once, when its breaker opens, and
/// how room creation backs off (see [`crate::twilio::guard`], [`RoomBackoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    pub verify: GuardConfig,
    pub video: GuardConfig,
    pub alerts: GuardConfig,
    pub rooms: RoomBackoff,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            verify: GuardConfig::VERIFY,
            video: GuardConfig::VIDEO,
            alerts: GuardConfig::ALERTS,
            rooms: RoomBackoff::default(),
        }
    }
}

impl OutboundLimits {
    /// `ROOMGATE_VERIFY_MAX_IN_FLIGHT`, `ROOMGATE_VIDEO_MAX_IN_FLIGHT`, and for both
    /// Twilio APIs `ROOMGATE_BREAKER_FAILURES` and `ROOMGATE_BREAKER_COOL_DOWN_SECS`;
    /// unset or blank variables take their defaults. The alert webhook and room
    /// creation keep theirs: nothing there is worth tuning per deployment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let d = Self::default();
        let mut env = Env::new(var);
        let verify_in_flight = env.size(
            "ROOMGATE_VERIFY_MAX_IN_FLIGHT",
            d.verify.max_in_flight,
            1..=10_000,
        );
        let video_in_flight = env.size(
            "ROOMGATE_VIDEO_MAX_IN_FLIGHT",
            d.video.max_in_flight,
            1..=1000,
        );
        let failures = env.count(
            "ROOMGATE_BREAKER_FAILURES",
            d.verify.failure_threshold,
            1..=100,
        );
        let cool_down = env.number(
            "ROOMGATE_BREAKER_COOL_DOWN_SECS",
            d.verify.cool_down.as_secs(),
            1..=3600,
        );
        let errors = env.into_errors();
        if !errors.is_empty() {
            return Err(errors);
        }
        let guard = |in_flight: usize| GuardConfig {
            max_in_flight: in_flight,
            failure_threshold: failures,
            cool_down: Duration::from_secs(cool_down),
        };
        Ok(Self {
            verify: guard(verify_in_flight),
            video: guard(video_in_flight),
            ..d
        })
    }
}

/// The ACL file: `ROOMGATE_ACL`, or [`DEFAULT_ACL`] when that is unset or blank.
/// `ROOMGATE_ADMIN_HOSTS`: host names, comma-separated (`metrics.internal,roomgate-1`),
/// lowercased, a trailing dot dropped.
fn admin_hosts(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut hosts = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(format!(
                "ROOMGATE_ADMIN_HOSTS must be host names separated by commas, like metrics.internal,roomgate-1 (got {name:?})"
            ));
        }
        hosts.push(name);
    }
    Ok(hosts)
}

pub fn acl_path(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    let var = Env::new(var).var("ROOMGATE_ACL");
    PathBuf::from(var.unwrap_or_else(|| DEFAULT_ACL.into()))
}

/// Every configuration problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

/// Whether `url` names this machine: `localhost` (or a name under it) or a loopback
/// address.
fn is_loopback_host(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// `AC`/`SK`/`VA` + 32 hex digits.
fn is_sid(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The value `.env.example` shows for `name`, commented out or not.
fn example_value(name: &str) -> Option<&'static str> {
    ENV_EXAMPLE.lines().find_map(|line| {
        let line = line.trim_start_matches(['#', ' ']);
        line.strip_prefix(name)?.strip_prefix('=')
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    fn twilio_vars() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef"),
            ("TWILIO_API_KEY_SECRET", "a-real-looking-secret-value"),
            (
                "TWILIO_VERIFY_SERVICE_SID",
                "VA0123456789abcdef0123456789abcdef",
            ),
            ("ROOMGATE_SESSION_KEY", KEY),
        ]
    }

    #[test]
    fn no_twilio_variables_is_local_mode_with_defaults() {
        let s = settings(&[]).unwrap();
        assert!(matches!(s.mode, Mode::Local));
        assert_eq!(s.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(s.token_ttl, Duration::from_secs(14_400));
        assert!(s.session_key_generated);
        assert_eq!(s.session_key.expose().len(), 64);
        assert!(!s.is_https());
    }

    #[test]
    fn all_four_twilio_variables_is_twilio_mode() {
        let s = settings(&twilio_vars()).unwrap();
        let Mode::Twilio(t) = &s.mode else {
            panic!("expected Twilio mode")
        };
        assert_eq!(t.verify_base_url, DEFAULT_VERIFY_BASE_URL);
        assert!(!s.session_key_generated);
        assert!(!format!("{s:?}").contains("a-real-looking-secret-value"));
        assert!(!format!("{s:?}").contains(KEY));
    }

    #[test]
    fn outbound_limits_default_and_come_from_their_variables() {
        assert_eq!(settings(&[]).unwrap().outbound, OutboundLimits::default());
        let s = settings(&[
            ("ROOMGATE_VERIFY_MAX_IN_FLIGHT", "4"),
            ("ROOMGATE_VIDEO_MAX_IN_FLIGHT", " 3 "),
            ("ROOMGATE_BREAKER_FAILURES", "2"),
            ("ROOMGATE_BREAKER_COOL_DOWN_SECS", "90"),
        ])
        .unwrap();
        let want = |max_in_flight| GuardConfig {
            max_in_flight,
            failure_threshold: 2,
            cool_down: Duration::from_secs(90),
        };
        assert_eq!(s.outbound.verify, want(4));
        assert_eq!(s.outbound.video, want(3));
        assert_eq!(s.outbound.alerts, GuardConfig::ALERTS);

        let err = settings(&[
            ("ROOMGATE_VERIFY_MAX_IN_FLIGHT", "0"),
            ("ROOMGATE_BREAKER_COOL_DOWN_SECS", "soon"),
        ])
        .unwrap_err();
        assert!(
            err.0.contains(
                &r#"ROOMGATE_VERIFY_MAX_IN_FLIGHT must be a whole number from 1 to 10000 (got "0")"#
                    .to_owned()
            )
        );
        assert!(err.0.contains(
            &r#"ROOMGATE_BREAKER_COOL_DOWN_SECS must be a whole number from 1 to 3600 (got "soon")"#
                .to_owned()
        ));
    }

    #[test]
    fn partial_twilio_set_names_the_missing_variables() {
        let err =
            settings(&[("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")]).unwrap_err();
        let line = err.0.iter().find(|l| l.contains("missing")).unwrap();
        assert!(
            line.contains("TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET, TWILIO_VERIFY_SERVICE_SID")
        );
        assert!(!line.contains("TWILIO_ACCOUNT_SID,"));
    }

    #[test]
    fn sids_of_the_wrong_shape_are_reported_each_on_its_line() {
        let mut vars = twilio_vars();
        vars[0].1 = "AC123";
        vars[1].1 = "AC0123456789abcdef0123456789abcdef";
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.0[0].starts_with("TWILIO_ACCOUNT_SID must be AC"));
        assert!(err.0[1].starts_with("TWILIO_API_KEY_SID must be SK"));
    }

    #[test]
    fn placeholders_from_env_example_are_refused_without_printing_secrets() {
        let mut vars = twilio_vars();
        vars[2].1 = "your-api-key-secret";
        vars[0].1 = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        let err = settings(&vars).unwrap_err().to_string();
        assert!(err.contains("TWILIO_API_KEY_SECRET is still the placeholder"));
        assert!(err.contains("TWILIO_ACCOUNT_SID is still the placeholder"));
        assert!(!err.contains("your-api-key-secret"));
    }

    #[test]
    fn ttl_must_be_in_range() {
        for bad in ["59", "86401", "soon", "-1"] {
            let err = settings(&[("ROOMGATE_TOKEN_TTL", bad)]).unwrap_err();
            assert!(
                err.0[0].starts_with("ROOMGATE_TOKEN_TTL must be"),
                "{bad}: {err}"
            );
        }
        for ok in ["60", "86400"] {
            assert!(settings(&[("ROOMGATE_TOKEN_TTL", ok)]).is_ok());
        }
    }

    #[test]
    fn session_key_is_required_in_twilio_mode_and_must_be_long() {
        let mut vars = twilio_vars();
        vars.pop();
        let err = settings(&vars).unwrap_err().to_string();
        assert!(err.contains("ROOMGATE_SESSION_KEY is required in Twilio mode"));
        let err = settings(&[("ROOMGATE_SESSION_KEY", "short")]).unwrap_err();
        assert!(err.0[0].contains("at least 64 bytes (it has 5)"));
        assert!(!err.to_string().contains("short\""));
    }

    #[test]
    fn local_mode_refuses_non_loopback_addresses() {
        let err = settings(&[("ROOMGATE_ADDR", "0.0.0.0:8080")]).unwrap_err();
        assert!(err.0[0].contains("local mode only listens on loopback"));
        // Nor another host's public URL (a proxy in front of it).
        let err = settings(&[("ROOMGATE_PUBLIC_URL", "https://meet.example.com")]).unwrap_err();
        assert!(
            err.0[0].contains("local mode is for this machine only"),
            "{err:?}"
        );
        for mine in [
            "http://localhost:8080",
            "https://app.localhost",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ] {
            assert!(settings(&[("ROOMGATE_PUBLIC_URL", mine)]).is_ok(), "{mine}");
        }
        assert!(settings(&[("ROOMGATE_ADDR", "[::1]:0")]).is_ok());
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_ADDR", "0.0.0.0:8080"));
        assert!(settings(&vars).is_ok());
    }

    #[test]
    fn admin_host_names_are_a_list_of_names() {
        assert!(settings(&[]).unwrap().admin_hosts.is_empty());
        let listed = settings(&[(
            "ROOMGATE_ADMIN_HOSTS",
            " Metrics.Internal., roomgate-1 ,roomgate_app",
        )]);
        assert_eq!(
            listed.unwrap().admin_hosts,
            ["metrics.internal", "roomgate-1", "roomgate_app"]
        );
        for bad in ["http://metrics.internal", "metrics.internal:9090", "a b"] {
            let err = settings(&[("ROOMGATE_ADMIN_HOSTS", bad)]).unwrap_err();
            assert!(
                err.0
                    .iter()
                    .any(|l| l.contains("ROOMGATE_ADMIN_HOSTS must be host names")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn an_admin_listener_on_every_interface_is_a_warning() {
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_ADMIN_ADDR", "0.0.0.0:9090"));
        let open = settings(&vars).unwrap();
        assert!(
            open.warnings
                .iter()
                .any(|w| w.contains("ROOMGATE_ADMIN_ADDR 0.0.0.0:9090 listens on every interface")),
            "{:?}",
            open.warnings
        );
        vars.pop();
        vars.push(("ROOMGATE_ADMIN_ADDR", "10.0.0.5:9090"));
        assert!(settings(&vars).unwrap().warnings.is_empty());
    }

    #[test]
    fn the_public_url_is_a_site_root() {
        let with = |url: &'static str| {
            let mut vars = twilio_vars();
            vars.push(("ROOMGATE_PUBLIC_URL", url));
            settings(&vars)
        };
        for bad in [
            "https://meet.example.com/meet",
            "https://meet.example.com/?a=1",
        ] {
            let err = with(bad).unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].contains("must be the site's root"), "{err}");
        }
        for good in [
            "https://meet.example.com",
            "https://meet.example.com/",
            "http://localhost:8080",
        ] {
            assert!(with(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = settings(&[
            ("ROOMGATE_ADDR", "nowhere"),
            ("ROOMGATE_PUBLIC_URL", "ftp://x"),
            ("ROOMGATE_DEFAULT_ROOM", "Bad Room"),
            ("ROOMGATE_TOKEN_TTL", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
    }

    #[test]
    fn an_auth_token_without_reachable_webhooks_is_a_warning() {
        let local = settings(&[("TWILIO_AUTH_TOKEN", "token")]).unwrap();
        assert!(local.warnings[0].contains("local mode receives no Twilio webhooks"));
        let mut vars = twilio_vars();
        vars.push(("TWILIO_AUTH_TOKEN", "token"));
        let loopback = settings(&vars).unwrap();
        assert!(loopback.warnings[0].contains("loopback address"));
        assert!(!loopback.warnings[0].contains("token\""));
        vars.push(("ROOMGATE_PUBLIC_URL", "https://meet.example.com"));
        assert!(settings(&vars).unwrap().warnings.is_empty());
        assert!(settings(&twilio_vars()).unwrap().warnings.is_empty());
    }

    #[test]
    fn the_recordings_storage_is_part_of_the_start_up_check() {
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_RECORDINGS_S3_BUCKET", "recordings"));
        let errors = settings(&vars).unwrap_err().0;
        assert!(
            errors
                .iter()
                .any(|l| l.contains("missing: ROOMGATE_RECORDINGS_S3_ENDPOINT")),
            "{errors:?}"
        );
        // Redis without a bucket works, with a warning: files stay on one instance.
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_REDIS_URL", "redis://127.0.0.1:6379"));
        let settings = settings(&vars).unwrap();
        assert!(settings.recordings.s3.is_none());
        assert!(
            settings
                .warnings
                .iter()
                .any(|w| w.contains("instances sharing Redis need a bucket")),
            "{:?}",
            settings.warnings
        );
    }

    /// Unset, the public URL names where the service listens, so a local run on
    /// another port gets links and messages with its own port.
    #[test]
    fn the_public_url_follows_the_address_unless_set() {
        // The host's commands, without a server, work it out the same way.
        let alone = |vars: &'static [(&'static str, &'static str)]| {
            public_url(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .to_string()
        };
        assert_eq!(alone(&[]), "http://127.0.0.1:8080/");
        assert_eq!(
            alone(&[("ROOMGATE_ADDR", "0.0.0.0:3000")]),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(
            alone(&[
                ("ROOMGATE_ADDR", "0.0.0.0:3000"),
                ("ROOMGATE_PUBLIC_URL", "https://meet.example.com")
            ]),
            "https://meet.example.com/"
        );
        let public = |vars: &[(&str, &str)]| settings(vars).unwrap().public_url.to_string();
        assert_eq!(public(&[]), "http://127.0.0.1:8080/");
        assert_eq!(
            public(&[("ROOMGATE_ADDR", "127.0.0.1:3000")]),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(
            public(&[("ROOMGATE_ADDR", "[::1]:3000")]),
            "http://[::1]:3000/"
        );
        assert_eq!(
            public(&[("ROOMGATE_ADDR", "127.0.0.1:0")]),
            "http://127.0.0.1:8080/"
        );
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_ADDR", "0.0.0.0:9000"));
        assert_eq!(public(&vars), "http://127.0.0.1:9000/");
        vars.push(("ROOMGATE_PUBLIC_URL", "https://meet.example.com"));
        assert_eq!(public(&vars), "https://meet.example.com/");
    }

    #[test]
    fn https_public_url_is_detected() {
        let mut vars = twilio_vars();
        vars.push(("ROOMGATE_PUBLIC_URL", "https://meet.example.com"));
        assert!(settings(&vars).unwrap().is_https());
    }

    /// A `.env` that doesn't parse loads none of its lines, and its error names the
    /// line without quoting it (or anything after it).
    #[test]
    fn a_malformed_dotenv_loads_nothing_and_quotes_no_secret() {
        let dir = std::env::temp_dir().join(format!("roomgate-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        let first = format!("ROOMGATE_DOTENV_TEST_{}", std::process::id());
        std::fs::write(
            &path,
            format!(
                "# comment\n{first}=loaded\nROOMGATE_SESSION_KEY=\"s3cr3t-value\nTWILIO_AUTH_TOKEN=t0k3n\n"
            ),
        )
        .unwrap();
        let err = load_dotenv_from(&path).unwrap_err();
        assert!(err.contains("at line 3"), "{err}");
        // A value with a space, unquoted: the line is named where the value is cut.
        std::fs::write(&path, "# one\nROOMGATE_ALLOWED_COUNTRIES=us gb\n").unwrap();
        let err = load_dotenv_from(&path).unwrap_err();
        assert!(err.contains("at line 2"), "{err}");
        for secret in ["s3cr3t", "t0k3n", "SESSION_KEY"] {
            assert!(!err.contains(secret), "{err}");
        }
        assert!(
            std::env::var(&first).is_err(),
            "a line before the bad one was loaded"
        );

        std::fs::write(&path, format!("{first}=loaded\n")).unwrap();
        load_dotenv_from(&path).unwrap();
        assert_eq!(std::env::var(&first).unwrap(), "loaded");
        assert!(load_dotenv_from(&dir.join("absent")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod docs_tests {
    /// Every limit variable is documented where operators look.
    #[test]
    fn every_limit_variable_is_documented() {
        let readme = include_str!("../README.md");
        let example = include_str!("../.env.example");
        for (name, default, _) in crate::limits::limiter::ENV_VARS {
            assert!(readme.contains(name), "README lacks {name}");
            assert!(
                example.contains(&format!("{name}={default}")),
                ".env.example lacks {name}={default}"
            );
        }
    }
}
