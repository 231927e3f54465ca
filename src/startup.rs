//! Wiring: settings in, a running server out. Tests build the same value on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;

use crate::acl::departures::Members;
use crate::acl::{Acl, AclError, AclStore, ReloadOutcome, StartList};
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::budget::{Budget, BudgetKind};
use crate::clock::{Clock, SystemClock};
pub use crate::config::OutboundLimits;
use crate::config::{Mode, Settings, TwilioSettings};
use crate::limits::Limiter;
use crate::metrics::{Metrics, Outbound};
use crate::passkeys::PhoneKey;
use crate::random::random_token;
use crate::recordings::library::Library;
use crate::recordings::pipeline::Pipeline;
use crate::recordings::storage::local::LocalStorage;
use crate::recordings::storage::s3::S3Storage;
use crate::recordings::storage::{ObjectStorage, S3Credentials, S3SecretFiles};
use crate::session::SessionPolicy;
use crate::signin::{SignInService, SignIns};
use crate::state::{AppState, Site};
use crate::store::health::StoreHealth;
use crate::store::{Store, StoreSettings};
use crate::telemetry::Pseudonyms;
use crate::twilio::credentials::{ApiKey, ApiKeys, SecretFiles};
use crate::twilio::guard::{Guard, GuardConfig};
use crate::twilio::signature::SignatureValidator;
use crate::twilio::verify::{TwilioVerifyClient, TwilioVerifyConfig, http_client};
use crate::verify::Verifier;
use crate::verify::local::{CodeSink, LocalVerifier, stdout_sink};
use crate::verify::metered::Metered;
use crate::video::AccessTokenIssuer;
use crate::video::{RoomKeeper, VideoClient, VideoConfig};
use arc_swap::ArcSwap;

/// Upper bound for one call to Twilio; a sign-in page never hangs longer.
const TWILIO_TIMEOUT: Duration = Duration::from_secs(10);
/// Local mode has no account: tokens name these placeholder SIDs and are signed with
/// a key made at start-up, so they decode like real ones but open no room.
const LOCAL_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const LOCAL_API_KEY_SID: &str = "SK00000000000000000000000000000000";

/// Seams for tests: a clock they control, a place to catch local-mode codes.
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub code_sink: Option<CodeSink>,
    /// Upper bound for one Verify call (default [`TWILIO_TIMEOUT`]).
    pub verify_timeout: Option<Duration>,
    /// A store opened by the caller instead of the configured one (its clock is then
    /// the app's clock too).
    pub store: Option<Arc<dyn Store>>,
    /// The outbound guards' limits and room creation's backoff, instead of the
    /// configured ones (tests use sub-second backoffs, which no variable offers).
    pub outbound: Option<OutboundLimits>,
}

pub struct Application {
    port: u16,
    admin_port: u16,
    server: Server,
    acl: Arc<AclStore>,
    audit: AuditLog,
    metrics: Metrics,
    recordings_storage: Arc<dyn ObjectStorage>,
    /// Stopped after the server, so what it holds is handed back to the store.
    alerts: crate::alerts::AlertSender,
    /// Reloads the ACL on change for as long as the server runs.
    _watcher: crate::acl::watch::AclWatch,
    /// The embedded store's control socket, removed when the server is dropped.
    _control: Option<crate::control::socket::SocketFile>,
}

impl Application {
    pub async fn build(settings: Settings, acl: impl Into<StartList>) -> anyhow::Result<Self> {
        Self::build_with(settings, acl, Overrides::default()).await
    }

    pub async fn build_with(
        mut settings: Settings,
        acl: impl Into<StartList>,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let acl: StartList = acl.into();
        // A catalog that doesn't parse stops the start, not the first page.
        crate::i18n::load_catalogs();
        let listener = TcpListener::bind(settings.addr)
            .with_context(|| format!("binding {} (ROOMGATE_ADDR, or --addr)", settings.addr))?;
        let port = listener.local_addr()?.port();
        let metrics = Metrics::new();
        // The data directory of the embedded store this server opens (and so holds):
        // the host's store commands reach it through a socket there.
        let control_dir = match (&overrides.store, &settings.store) {
            (None, StoreSettings::Embedded { dir }) => Some(dir.clone()),
            _ => None,
        };
        let store = match overrides.store {
            Some(store) => Arc::new(crate::store::metered::Metered::new(store, metrics.clone())),
            None => {
                let clock = overrides
                    .clock
                    .clone()
                    .unwrap_or_else(|| Arc::new(SystemClock));
                let store = crate::store::open_for_serving(&settings.store, clock, &metrics)
                    .await
                    .with_context(|| match &settings.store {
                        StoreSettings::Embedded { dir } => {
                            format!("opening the store in {} (ROOMGATE_DATA_DIR)", dir.display())
                        }
                        StoreSettings::Redis { .. } => {
                            "opening the store (ROOMGATE_REDIS_URL)".to_owned()
                        }
                    })?;
                // No key configured (local mode, embedded store): one kept beside the
                // store, so a restart ends no session.
                if settings.session_key_generated
                    && let StoreSettings::Embedded { dir } = &settings.store
                {
                    settings.session_key = crate::config::SessionKey::kept_in(dir)
                        .with_context(|| format!("the session key in {}", dir.display()))?;
                }
                store
            }
        };
        // Expiry, lockouts and sessions are judged by the store's time, so instances
        // sharing a store agree on them.
        let clock = store.clock();
        let verify_timeout = overrides.verify_timeout.unwrap_or(TWILIO_TIMEOUT);
        let outbound = overrides.outbound.unwrap_or(settings.outbound);
        metrics.set_acl_users(acl.acl.user_count());
        // The one HTTP client: Verify calls and alert webhooks share its pool.
        let http = http_client(verify_timeout);

        let twilio = match &settings.mode {
            Mode::Twilio(t) => Some(TwilioParts::new(t, &http, &metrics, &outbound)),
            Mode::Local => None,
        };
        let (verifier, tokens): (Arc<dyn Verifier>, AccessTokenIssuer) = match &twilio {
            Some(parts) => (
                parts.verifier.clone(),
                AccessTokenIssuer::new(
                    parts.account_sid.clone(),
                    parts.keys.clone(),
                    settings.token_ttl,
                    clock.clone(),
                ),
            ),
            None => (
                Arc::new(LocalVerifier::new(
                    store.clone(),
                    settings.session_key.expose(),
                    overrides.code_sink.unwrap_or_else(stdout_sink),
                )),
                AccessTokenIssuer::new(
                    LOCAL_ACCOUNT_SID.into(),
                    ApiKeys::fixed(LOCAL_API_KEY_SID, &random_token()),
                    settings.token_ttl,
                    clock.clone(),
                ),
            ),
        };

        let audit: AuditLog = AuditLog::open_with(
            &settings.audit.path,
            settings.audit.key.take(),
            settings.audit.limits,
        )
        .with_context(|| format!("opening the audit log {}", settings.audit.path.display()))?
        .with_clock(clock.clone());
        let acl = Arc::new(AclStore::new(
            acl,
            settings.acl_path.clone(),
            settings.acl_policy.clone(),
        ));
        let pseudonyms = Pseudonyms::new(settings.session_key.expose());
        let phones = PhoneKey::new(settings.session_key.expose());
        // One sender (one queue, one guard) for both budgets' alerts.
        let alerts =
            settings
                .budget
                .alert_sender(http.clone(), outbound.alerts, &metrics, store.clone());
        audit.alert_to(alerts.clone());
        // The list this start put in service, on record before anyone is let in: an
        // edit made while the service was down (or that a crash kept from being
        // reloaded and audited) is accounted for by it. A log that can't be written
        // (a full disk) doesn't stop the start: sign-ins are refused until it can.
        audit
            .record_or_note(
                AuditRecord::new(AuditEvent::AclReloaded)
                    .detail(format!("{} users (at start-up)", acl.load().user_count())),
            )
            .await;
        let signin = SignInService {
            signins: SignIns::new(
                store.clone(),
                verifier.clone(),
                audit.clone(),
                metrics.clone(),
            )
            .with_stand_in_bound(outbound.verify.max_in_flight),
            limiter: Arc::new(Limiter::new(
                store.clone(),
                settings.limits.clone(),
                settings.session_key.expose(),
            )),
            budget: Budget::new(
                BudgetKind::Sms,
                &settings.budget,
                store.clone(),
                alerts.clone(),
            )
            .with_metrics(metrics.clone()),
            call_budget: Budget::new(
                BudgetKind::Call,
                &settings.budget,
                store.clone(),
                alerts.clone(),
            )
            .with_metrics(metrics.clone()),
            acl: acl.clone(),
            verifier,
            audit_log: audit.clone(),
            metrics: metrics.clone(),
            pseudonyms: pseudonyms.clone(),
            start_wait: verify_timeout + Duration::from_secs(2),
            phone_key: phones.clone(),
            checking: Default::default(),
        };
        let status_callback = twilio
            .as_ref()
            .and_then(|t| t.signatures.as_ref())
            .and_then(|_| settings.public_url.join("/twilio/room-events").ok());
        let rooms = twilio.as_ref().map(|t| {
            RoomKeeper::new(
                t.video.clone(),
                store.clone(),
                status_callback.clone(),
                metrics.clone(),
                // The Video client shares the Verify client's timeout.
                outbound.rooms.covering(verify_timeout),
            )
        });
        let (recordings_storage, recording_files) =
            open_recordings_storage(&settings, http.clone(), clock.clone(), &metrics)?;
        let storage_handle = recordings_storage.clone();
        let library = Library::new(
            store.clone(),
            recordings_storage.clone(),
            acl.clone(),
            audit.clone(),
            settings.recordings.link_ttl,
        );
        // Only Twilio's callbacks start recording jobs; without webhooks nothing would.
        let pipeline = twilio.as_ref().map(|t| {
            Pipeline::new(
                store.clone(),
                t.video.clone(),
                recordings_storage.clone(),
                http.clone(),
                audit.clone(),
                status_callback.clone(),
                settings.pipeline.clone(),
            )
        });
        if let Some(pipeline) = &pipeline {
            pipeline.spawn();
        }
        library.spawn_expiry(RETENTION_SWEEP);
        let control = control_dir.and_then(|dir| {
            let commands = crate::control::HostCommands::new(
                store.clone(),
                acl.clone(),
                audit.clone(),
                crate::recordings::commands::Recordings::new(
                    library.clone(),
                    settings.public_url.clone(),
                ),
            );
            crate::control::socket::open(&dir, commands)
        });
        let passkeys = passkeys_for(&settings, &store);
        let keep_out = twilio.as_ref().map(|t| {
            let keep_out =
                crate::video::keep_out::KeepOut::new(store.clone(), t.video.clone(), audit.clone());
            keep_out.spawn();
            keep_out
        });
        let state = web::Data::new(AppState {
            keep_out,
            passkeys,
            signin,
            acl: acl.clone(),
            tokens,
            audit: audit.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            store_health: StoreHealth::watch(store.clone()),
            clock,
            pseudonyms,
            video: twilio.as_ref().map(|t| t.video.clone()),
            rooms,
            signatures: twilio.as_ref().and_then(|t| t.signatures.clone()),
            status_callback,
            library,
            pipeline,
            site: Site {
                public_origin: settings.public_url.origin().ascii_serialization(),
                secure_cookies: settings.is_https(),
                default_room: settings.default_room.clone(),
                video_sdk_url: settings.video_sdk_url.to_string(),
                local_mode: matches!(settings.mode, Mode::Local),
            },
            recordings_storage,
            recording_files,
        });
        let sessions_policy = web::Data::new(SessionPolicy {
            store: store.clone(),
            ttl: settings.session_ttl,
        });
        let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
        spawn_sweeper(state.clone());
        let metrics_for_report = state.metrics.clone();
        spawn_log_report(metrics_for_report.clone());
        let readiness = state.readiness();
        let audit_for_reloads = audit.clone();

        let key = Key::try_from(settings.session_key.expose())
            .context("ROOMGATE_SESSION_KEY is too short for a cookie key")?;
        let secure = settings.is_https();
        let session_ttl = settings.session_ttl;
        let headers = security_headers(&settings, storage_handle.link_origin().as_deref());
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name(
                    if secure {
                        "__Host-roomgate"
                    } else {
                        "roomgate"
                    }
                    .into(),
                )
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_path("/".into())
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(PersistentSession::default().session_ttl(
                    actix_web::cookie::time::Duration::seconds(
                        i64::try_from(session_ttl.as_secs()).unwrap_or(i64::MAX),
                    ),
                ))
                .build();
            App::new()
                .wrap(middleware::from_fn(crate::routes::translate_error_pages))
                .wrap(middleware::from_fn(crate::routes::refuse_cross_site_posts))
                .wrap(sessions)
                // Before sessions: a flooding network's refusal needs none (nor its form).
                .wrap(middleware::from_fn(crate::routes::shed_refused_networks))
                // Before sessions: a redirect needs none.
                .wrap(middleware::from_fn(crate::routes::canonical_room_paths))
                // Outside everything that reads a body (the shed reads the sign-in's).
                .wrap(middleware::from_fn(crate::routes::cut_slow_bodies))
                .wrap(
                    headers
                        .iter()
                        .fold(middleware::DefaultHeaders::new(), |h, (k, v)| {
                            h.add((*k, v.as_str()))
                        }),
                )
                .app_data(state.clone())
                .app_data(sessions_policy.clone())
                .app_data(trusted_proxies.clone())
                .app_data(
                    web::FormConfig::default()
                        .limit(4096)
                        .error_handler(crate::routes::unreadable_form),
                )
                .app_data(
                    web::QueryConfig::default().error_handler(crate::routes::unreadable_query),
                )
                .configure(crate::routes::configure)
                // Any other path: the usual page, in the visitor's language, not an
                // empty 404.
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .run();
        let (reload, reload_requests) = tokio::sync::mpsc::channel(1);
        let in_service = {
            let (acl, phones) = (Arc::clone(&acl.load()), phones.clone());
            tokio::task::spawn_blocking(move || Members::of(&acl, &phones))
                .await
                .context("listing the ACL's members")?
        };
        acl.before_service(before_service(
            audit_for_reloads.clone(),
            store.clone(),
            phones.clone(),
            in_service,
        ));
        let mut watcher = crate::acl::watch::watch(acl.clone(), reload_requests, {
            let on_reload = on_acl_reload(metrics.clone(), audit_for_reloads);
            // Passkeys of users who left the list or changed number go, on or off.
            let sweep =
                crate::passkeys::janitor::on_reload(store.clone(), acl.clone(), phones.clone());
            move |outcome: &ReloadOutcome| {
                on_reload(outcome);
                sweep(outcome);
            }
        })
        .context("watching the ACL file")?;
        // A change made while this server started is in service before it is handed
        // over (a removal among them).
        watcher.first_look().await;

        let admin_listener = TcpListener::bind(settings.admin_addr).with_context(|| {
            format!(
                "binding the admin address {} (ROOMGATE_ADMIN_ADDR)",
                settings.admin_addr
            )
        })?;
        let admin_port = admin_listener.local_addr()?.port();
        let admin = crate::admin::admin_server(
            admin_listener,
            metrics,
            settings.admin_hosts.clone(),
            move || match readiness.check() {
                Ok(()) => (true, "ready".to_owned()),
                Err(not_ready) => (false, not_ready.detailed()),
            },
        )?;
        tokio::spawn(admin);
        let s3_secrets = settings
            .recordings
            .s3
            .as_ref()
            .filter(|s3| s3.secret_files.any())
            .map(|s3| (s3.secret_files.clone(), s3.credentials.clone()));
        spawn_sighup_listener(reload, twilio.map(|t| t.secret_files), s3_secrets);
        Ok(Self {
            port,
            admin_port,
            server,
            acl,
            audit,
            metrics: metrics_for_report,
            recordings_storage: storage_handle,
            alerts,
            _watcher: watcher,
            _control: control,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port (`/metrics`, `/readyz`).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The live ACL, for whatever replaces it (a reload, a test).
    pub fn acl_handle(&self) -> Arc<AclStore> {
        self.acl.clone()
    }

    /// The audit log the app writes, to flush what is still folded (tests, shutdown).
    pub fn audit_handle(&self) -> AuditLog {
        self.audit.clone()
    }

    /// Where recordings' files are stored (tests put files and ask for links).
    pub fn recordings_storage(&self) -> Arc<dyn ObjectStorage> {
        self.recordings_storage.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopped = self.server.await;
        // Refusals still folding are counted in summaries, not lost with the process.
        if let Err(e) = self.audit.flush().await {
            tracing::error!(error = %e, "the audit log's last summaries were not written");
        }
        // Alerts not delivered yet (that flush's among them) go back to the store for
        // the next instance, at once rather than when their lease runs out.
        self.alerts.shut_down(ALERTS_STOP_WAIT).await;
        // Likewise the log lines held back since the last report.
        crate::telemetry::report(&self.metrics);
        stopped
    }
}

/// Passkeys, unless turned off; a public URL that can't have them (an IP address)
/// leaves them off with a warning rather than stopping the start.
fn passkeys_for(
    settings: &Settings,
    store: &Arc<dyn Store>,
) -> Option<Arc<crate::passkeys::Passkeys>> {
    if settings.passkeys == crate::passkeys::PasskeyMode::Off {
        return None;
    }
    match crate::passkeys::Passkeys::new(
        &settings.public_url,
        store.clone(),
        settings.session_key.expose(),
    ) {
        Ok(passkeys) => Some(Arc::new(passkeys)),
        Err(e) => {
            tracing::warn!("passkeys are off: {e}");
            None
        }
    }
}

/// What Twilio mode adds: the Verify and Video clients, the rotatable API key, and
/// the webhook signature check (when an Auth Token is configured).
struct TwilioParts {
    account_sid: String,
    keys: ApiKeys,
    verifier: Arc<dyn Verifier>,
    video: VideoClient,
    signatures: Option<Arc<ArcSwap<SignatureValidator>>>,
    secret_files: SecretFiles,
}

impl TwilioParts {
    fn new(
        t: &TwilioSettings,
        http: &reqwest::Client,
        metrics: &Metrics,
        limits: &OutboundLimits,
    ) -> Self {
        let keys = ApiKeys::new(ApiKey {
            sid: t.api_key_sid.clone(),
            secret: t.api_key_secret.clone(),
        });
        let verifier = Arc::new(Metered::new(
            Arc::new(
                TwilioVerifyClient::new(
                    http.clone(),
                    TwilioVerifyConfig {
                        base_url: t.verify_base_url.clone(),
                        service_sid: t.verify_service_sid.clone(),
                        api_key: keys.clone(),
                    },
                )
                .with_guard(Guard::new(
                    Outbound::Verify,
                    limits.verify,
                    Some(metrics.clone()),
                )),
            ),
            metrics.clone(),
        ));
        let video = VideoClient::new(
            http.clone(),
            VideoConfig {
                base_url: t.video_base_url.clone(),
                account_sid: t.account_sid.clone(),
                api_key: keys.clone(),
            },
        )
        .with_metrics(metrics.clone())
        .with_guard(Guard::new(
            Outbound::Video,
            limits.video,
            Some(metrics.clone()),
        ));
        let signatures = t
            .auth_token
            .clone()
            .map(|token| Arc::new(ArcSwap::from_pointee(SignatureValidator::new(token))));
        Self {
            account_sid: t.account_sid.clone(),
            secret_files: SecretFiles {
                keys: keys.clone(),
                sid_file: t.api_key_sid_file.clone(),
                secret_file: t.api_key_secret_file.clone(),
                signatures: signatures.clone(),
                auth_token_file: t.auth_token_file.clone(),
            },
            keys,
            verifier,
            video,
            signatures,
        }
    }
}

/// ACL reloads show in the metrics and the audit log.
fn on_acl_reload(metrics: Metrics, audit: AuditLog) -> impl Fn(&ReloadOutcome) + Send + Sync {
    move |outcome| {
        let record = match outcome {
            // Audited before it went into service (`audit_before_service`).
            ReloadOutcome::Loaded { users } => {
                metrics.acl_reloaded(*users);
                return;
            }
            ReloadOutcome::Rejected(errors) => {
                metrics.acl_rejected();
                // Redacted: an error may quote a mistyped phone number.
                let first = errors.0.first().map(AclError::redacted).unwrap_or_default();
                AuditRecord::new(AuditEvent::AclRejected).detail(first)
            }
            ReloadOutcome::Restored { users } => AuditRecord::new(AuditEvent::AclReloaded).detail(
                format!("{users} users (fixed: the list in service, unchanged)"),
            ),
            ReloadOutcome::Unchanged => return,
        };
        let audit = audit.clone();
        tokio::spawn(async move {
            audit.record_or_note(record).await;
        });
    }
}

/// How long the shutdown waits for the alert sender to hand back what it holds.
const ALERTS_STOP_WAIT: Duration = Duration::from_secs(2);

/// The longest a new list waits for its audit record and its departures before going
/// into service anyway: a removal must not wait on a stalled disk or store.
const ACL_RECORD_WAIT: Duration = Duration::from_secs(2);

/// Each new list is on record, and whom it lets go of ([`departures`]) in the store,
/// before it is in service (on the reload's blocking thread, waiting at most
/// [`ACL_RECORD_WAIT`] for both together; what isn't written by then still is, after).
/// The list this start put in service, `in_service`, is compared with the one the
/// store kept, without holding up the start: whom it dropped while no instance ran
/// can only come back through a later change, which waits for it.
///
/// [`departures`]: crate::acl::departures
fn before_service(
    audit: AuditLog,
    store: Arc<dyn Store>,
    phones: PhoneKey,
    in_service: Members,
) -> impl Fn(&Acl, &Acl) + Send + Sync {
    use crate::acl::departures::Recorder;
    let runtime = tokio::runtime::Handle::current();
    let departures = Recorder::spawn(store.clone());
    // Not waited for: the start goes on while the lists are compared.
    drop(departures.started(in_service, store.clock().now()));
    move |old, new| {
        let record =
            AuditRecord::new(AuditEvent::AclReloaded).detail(format!("{} users", new.user_count()));
        let audited = {
            let audit = audit.clone();
            runtime.spawn(async move { audit.record_or_note(record).await })
        };
        let before = Members::of(old, &phones);
        let after = Members::of(new, &phones);
        // The sessions signed in until now. Not until the new list is in service (up
        // to the wait below later): a margin would also end the sessions of a user
        // signing in again at once, with a number just corrected, say; an approval
        // in the instant between is left uncovered.
        let until = store.clock().now();
        let departed = departures.changed(&before, after, until);
        drop(before);
        let (audited, departed) = runtime.block_on(async {
            let both = async { tokio::join!(audited, departed) };
            match tokio::time::timeout(ACL_RECORD_WAIT, both).await {
                Ok((audited, departed)) => (audited.is_ok(), departed.is_ok()),
                Err(_) => (false, false),
            }
        });
        if !audited {
            tracing::warn!("the ACL change went into service before its audit record was written");
        }
        if !departed {
            tracing::warn!(
                "the ACL change went into service before the users it drops were on record; they will be as soon as the store takes them"
            );
        }
    }
}

/// How often recordings past their room's retention are looked for.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// The recordings' storage, and the local files behind it when there is no bucket.
type RecordingsStorage = (Arc<dyn ObjectStorage>, Option<Arc<LocalStorage>>);

fn open_recordings_storage(
    settings: &Settings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    metrics: &Metrics,
) -> anyhow::Result<RecordingsStorage> {
    Ok(match &settings.recordings.s3 {
        Some(s3) => (
            Arc::new(
                S3Storage::new(s3, http)
                    .context("the recordings bucket")?
                    .with_guard(Guard::new(
                        Outbound::Storage,
                        GuardConfig::STORAGE,
                        Some(metrics.clone()),
                    )),
            ),
            None,
        ),
        None => {
            let dir = match &settings.store {
                StoreSettings::Embedded { dir } => dir,
                StoreSettings::Redis { .. } => &settings.recordings.data_dir,
            };
            let local = Arc::new(LocalStorage::open(dir, clock)?);
            local.remove_leftover_uploads();
            (local.clone(), Some(local))
        }
    })
}

/// `SIGHUP` asks for a reload, the way daemons are told to re-read their files: the
/// ACL, and the secrets that came from files (Twilio's and the bucket's key pair).
fn spawn_sighup_listener(
    reload: tokio::sync::mpsc::Sender<()>,
    secrets: Option<SecretFiles>,
    s3_secrets: Option<(S3SecretFiles, S3Credentials)>,
) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reloads happen on file changes only");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let _ = reload.try_send(());
            if let Some(secrets) = secrets.clone() {
                match tokio::task::spawn_blocking(move || secrets.reread()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "secrets not re-read; the old ones stay in service")
                    }
                    Err(e) => tracing::error!(error = %e, "secret re-read task failed"),
                }
            }
            if let Some((files, credentials)) = s3_secrets.clone() {
                match tokio::task::spawn_blocking(move || files.reread(&credentials)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the bucket's key pair was not re-read; the old one stays in service")
                    }
                    Err(e) => tracing::error!(error = %e, "secret re-read task failed"),
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop((reload, secrets, s3_secrets));
}

/// What the log's throttle held back is said once a window (see `telemetry::throttle`).
fn spawn_log_report(metrics: Metrics) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::telemetry::throttle::WINDOW);
        loop {
            tick.tick().await;
            crate::telemetry::report(&metrics);
        }
    });
}

/// Sign-ins abandoned halfway are taken from the store every 10 s (by one instance
/// each, when several share it). The store forgets expired keys by itself. The
/// budgets' gauges are brought up to date on the same tick (from start-up on).
fn spawn_sweeper(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            for budget in [&state.signin.budget, &state.signin.call_budget] {
                if let Err(e) = budget.publish_usage().await {
                    tracing::debug!(error = %e, "budget gauges not updated");
                }
            }
            // Batch after batch while they come full, up to SWEEP_BATCHES a tick: the
            // queue drains as fast as a flood can fill it (the sign-ins' cap may be
            // set up to 1,000,000), where one batch a tick (100 a second) fell behind
            // and left failures uncounted until their records had expired.
            for _ in 0..SWEEP_BATCHES {
                let (expired, more) = match state.signin.signins.sweep_batch().await {
                    Ok(swept) => swept,
                    Err(e) => {
                        tracing::warn!(error = %e, "abandoned sign-ins not swept; trying again later");
                        break;
                    }
                };
                // Each window that ended unapproved is a failed verification of its name.
                state.signin.abandoned_all(expired).await;
                if !more {
                    break;
                }
            }
        }
    });
}

/// Batches of expired sign-ins swept in one tick at most (of 10 s): 10,000 a second,
/// more than the largest cap on sign-ins in flight can let in (1,000,000 per 10
/// minutes; 50,000 by default).
const SWEEP_BATCHES: usize = 100;

/// Headers for every response. The CSP allows no inline script; the SDK's origin is
/// added to `script-src`, and `'unsafe-eval'` because twilio-video compiles code with
/// `new Function` as it loads. `recordings_origin`, where recording links point (a
/// bucket), is added to `media-src` for the recordings page's player.
fn security_headers(
    settings: &Settings,
    recordings_origin: Option<&str>,
) -> Vec<(&'static str, String)> {
    let sdk_origin = settings.video_sdk_url.origin().ascii_serialization();
    let media = recordings_origin.map_or(String::new(), |o| format!(" {o}"));
    let csp = format!(
        "default-src 'self'; script-src 'self' {sdk_origin} 'unsafe-eval'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:{media}; \
         connect-src 'self' https://*.twilio.com wss://*.twilio.com; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    );
    let mut headers = vec![
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff".into()),
        ("X-Frame-Options", "DENY".into()),
        ("Referrer-Policy", "same-origin".into()),
        (
            "Permissions-Policy",
            "camera=(self), microphone=(self), geolocation=(), payment=()".into(),
        ),
        // A gate's pages are no search result: an indexed "Join standup" would list
        // the operator's room names for anyone to find.
        ("X-Robots-Tag", "noindex, nofollow".into()),
    ];
    if settings.is_https() {
        headers.push((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains".into(),
        ));
    }
    headers
}

/// The not-found page, for paths no route has.
async fn not_found() -> Result<actix_web::HttpResponse, crate::routes::PageError> {
    Err(crate::routes::PageError::NotFound)
}
