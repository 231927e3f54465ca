//! The `roomgate` command: `serve`, `acl …`, `audit show`, `store check`,
//! `recordings check`. Thin: it parses the command line, loads settings and the ACL,
//! and hands over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};
use roomgate::acl::edit::{self, Edit};
use roomgate::acl::{self, Acl, AclPolicy, Role};
use roomgate::audit::{self, AuditConfig, AuditKey, ShowOptions};
use roomgate::config::{Mode, Settings};
use roomgate::startup::Application;
use roomgate::store::{Store, StoreSettings};

// mimalloc rather than glibc's malloc: a sign-in flow makes thousands of small,
// short-lived allocations across two worker threads, and glibc's arenas spent about
// a tenth of the server's CPU on them under load (perf, docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An OTP gatekeeper for Twilio Video rooms.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web service (settings from the environment and `.env`; flags win).
    Serve(ServeArgs),
    /// Work with the access list.
    ///
    /// Every change is checked as `serve` would load the file (with
    /// ROOMGATE_ALLOWED_COUNTRIES) and written only if the result is valid, keeping
    /// the file's comments and layout.
    Acl(AclArgs),
    /// Read the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Look at the store (the embedded database, or Redis with ROOMGATE_REDIS_URL).
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Recordings and where their files are kept (a bucket with
    /// ROOMGATE_RECORDINGS_S3_*, else the data directory).
    Recordings(RecordingsArgs),
    /// Participants' passkeys, in the store (with the embedded store, a running
    /// `serve` does it: it holds the database).
    Passkeys {
        #[command(subcommand)]
        command: PasskeysCommand,
    },
}

#[derive(Subcommand)]
enum PasskeysCommand {
    /// One line per passkey: user, id, when added, when last used.
    List {
        /// Only this user's [default: everyone on the access list]
        user: Option<String>,
    },
    /// Revoke a user's passkey ID, or all their passkeys (audited).
    Revoke {
        user: String,
        /// As `list` prints it. An id is URL-safe base64 and may begin with `-`,
        /// which is taken as the id, not as an option.
        #[arg(allow_hyphen_values = true)]
        id: Option<String>,
    },
}

#[derive(clap::Args)]
struct RecordingsArgs {
    /// ACL file, for each room's retention, when no `serve` holds the embedded store
    /// (one that does uses its own) [env: ROOMGATE_ACL] [default: acl.toml]
    #[arg(long, global = true, value_name = "FILE")]
    acl: Option<PathBuf>,
    #[command(subcommand)]
    command: RecordingsCommand,
}

#[derive(Subcommand)]
enum RecordingsCommand {
    /// Store a probe object, confirm an unsigned GET of it is refused, delete it;
    /// exit 1 if any step fails.
    Check,
    /// One line per recording, newest first: id, room, when it ended, duration, size,
    /// state.
    List {
        /// Only this room's
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
    },
    /// Print a link to a recording, valid for ROOMGATE_RECORDING_LINK_SECS (audited).
    Link {
        id: String,
        /// A download (Content-Disposition: attachment) rather than playback
        #[arg(long)]
        download: bool,
    },
    /// Delete a recording's file and forget it (audited).
    Delete { id: String },
    /// Delete every recording older than its room's retention_days now.
    Purge,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Which backend, its schema version, and whether it is reachable; exit 1 if not.
    Check,
}

#[derive(clap::Args)]
struct AclArgs {
    /// ACL file [env: ROOMGATE_ACL] [default: acl.toml]
    #[arg(long, global = true, value_name = "FILE")]
    acl: Option<PathBuf>,
    #[command(subcommand)]
    command: AclCommand,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Listen address [env: ROOMGATE_ADDR]
    #[arg(long)]
    addr: Option<String>,
    /// ACL file [env: ROOMGATE_ACL]
    #[arg(long)]
    acl: Option<String>,
    /// The URL participants reach [env: ROOMGATE_PUBLIC_URL]
    #[arg(long)]
    public_url: Option<String>,
    /// Room that / redirects to [env: ROOMGATE_DEFAULT_ROOM]
    #[arg(long)]
    default_room: Option<String>,
    /// Video token lifetime in seconds [env: ROOMGATE_TOKEN_TTL]
    #[arg(long)]
    token_ttl: Option<String>,
    /// twilio-video SDK URL [env: ROOMGATE_VIDEO_SDK_URL]
    #[arg(long)]
    video_sdk_url: Option<String>,
}

#[derive(Subcommand)]
enum AclCommand {
    /// One line per user: name, role, phone (masked), channels and rooms.
    List {
        /// Show phone numbers in full.
        #[arg(long)]
        show_phones: bool,
    },
    /// Add a user.
    Add {
        /// What they type on the join page: a-z, 0-9, '.', '_', '-'.
        user: String,
        /// Where their codes go, in E.164 form, e.g. +447400123456.
        #[arg(long, value_name = "+E164")]
        phone: String,
        /// A room they may join, or "*" for any; repeat for more.
        #[arg(long = "room", value_name = "ROOM", required = true)]
        rooms: Vec<String>,
        /// Make them a host (role = "host").
        #[arg(long)]
        host: bool,
        /// How codes may reach them: "sms" (the default) or "sms,call" to allow
        /// "Call me instead".
        #[arg(long, value_name = "CHANNELS", value_delimiter = ',')]
        channels: Vec<String>,
    },
    /// Remove a user.
    Remove { user: String },
    /// Change a user's phone number.
    SetPhone {
        user: String,
        #[arg(value_name = "+E164")]
        phone: String,
    },
    /// Set how codes may reach a user: "sms", or "sms,call" to allow calls.
    SetChannels {
        user: String,
        #[arg(value_name = "CHANNELS", value_delimiter = ',', required = true)]
        channels: Vec<String>,
    },
    /// Let a user join one more room ("*" for any room).
    Grant { user: String, room: String },
    /// Take a room from a user (they keep at least one).
    Revoke { user: String, room: String },
    /// Change a room's settings (its [rooms.NAME] table).
    #[command(group(clap::ArgGroup::new("setting").required(true).multiple(true)))]
    Room {
        room: String,
        /// Whether the room is recorded: "off", "host" (hosts start and stop it)
        /// or "always".
        #[arg(long, value_name = "off|host|always", group = "setting")]
        recording: Option<String>,
        /// How many days a stored recording is kept (1 to 3650).
        #[arg(long, value_name = "DAYS", group = "setting")]
        retention_days: Option<String>,
    },
    /// Validate an ACL file: a summary and exit 0, or every error and exit 1.
    Check {
        /// The file to check [default: --acl's]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the records, oldest first, one per line; phone numbers only with the key.
    Show(AuditShowArgs),
}

#[derive(clap::Args)]
struct AuditShowArgs {
    /// The audit log [env: ROOMGATE_AUDIT_LOG] [default: audit.log]
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Only records from then on: RFC 3339 (2026-11-22T08:00:00Z) or a time ago (2h, 30m, 1d)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only this user's records
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only this room's records
    #[arg(long, value_name = "ROOM")]
    room: Option<String>,
    /// File holding the base64 audit key, to show phone numbers [env: ROOMGATE_AUDIT_KEY or ROOMGATE_AUDIT_KEY_FILE]
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Acl(args) => acl_command(args),
        Command::Audit {
            command: AuditCommand::Show(args),
        } => show_audit(args),
        Command::Store {
            command: StoreCommand::Check,
        } => store_check(),
        Command::Recordings(RecordingsArgs {
            command: RecordingsCommand::Check,
            ..
        }) => recordings_check(),
        Command::Recordings(args) => recordings_command(args),
        Command::Passkeys { command } => passkeys_command(command),
    }
}

/// `recordings check`: the storage `serve` would use, tried end to end with a probe.
fn recordings_check() -> ExitCode {
    use roomgate::recordings::storage::{self, StorageSettings};
    if let Err(e) = roomgate::config::load_dotenv() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let settings = match StorageSettings::from_lookup(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(lines) => {
            eprintln!("{}", lines.join("\n"));
            return ExitCode::FAILURE;
        }
    };
    println!("backend: {}", settings.backend());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for one check");
    let report = runtime.block_on(async {
        let storage = storage::open(
            &settings,
            &settings.data_dir,
            roomgate::twilio::verify::http_client(std::time::Duration::from_secs(10)),
            std::sync::Arc::new(roomgate::clock::SystemClock),
        )?;
        anyhow::Ok(storage.check().await?)
    });
    match report {
        Ok(report) => {
            println!("location: {}", report.location);
            println!(
                "probe stored: {} bytes, size and checksum verified",
                report.probe.size
            );
            println!(
                "unsigned GET: {} (HTTP {})",
                if report.unsigned_get_refused() {
                    "refused"
                } else {
                    "ALLOWED: anyone can read the files without a link"
                },
                report.unsigned_get_status
            );
            println!("encryption: {}", report.encryption);
            println!(
                "probe deleted: {}",
                if report.probe_deleted { "yes" } else { "NO" }
            );
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `recordings list | link | delete | purge`.
fn recordings_command(args: RecordingsArgs) -> ExitCode {
    use roomgate::control::Command;
    let command = match args.command {
        RecordingsCommand::List { room } => Command::RecordingsList { room },
        RecordingsCommand::Link { id, download } => Command::RecordingsLink { id, download },
        RecordingsCommand::Delete { id } => Command::RecordingsDelete { id },
        RecordingsCommand::Purge => Command::RecordingsPurge,
        RecordingsCommand::Check => unreachable!("handled by recordings_check"),
    };
    host_command(command, args.acl)
}

/// `passkeys list | revoke`.
fn passkeys_command(command: PasskeysCommand) -> ExitCode {
    use roomgate::control::Command;
    host_command(
        match command {
            PasskeysCommand::List { user } => Command::PasskeysList { user },
            PasskeysCommand::Revoke { user, id } => Command::PasskeysRevoke { user, id },
        },
        None,
    )
}

/// A command on the store `serve` uses: run by `serve` itself when it holds the
/// embedded store (through its control socket), else here.
fn host_command(command: roomgate::control::Command, acl: Option<PathBuf>) -> ExitCode {
    use roomgate::control::{CommandError, HostCommands, socket};
    let store = match store_settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let acl_path = acl.unwrap_or_else(|| roomgate::config::acl_path(|n| std::env::var(n).ok()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for one command");
    let done: anyhow::Result<String> = runtime.block_on(async {
        command.check()?;
        if let StoreSettings::Embedded { dir } = &store
            && let Some(out) = socket::ask(dir, &command).await?
        {
            return Ok(out);
        }
        let commands = HostCommands::open(env, &store, &acl_path, &command).await?;
        let done = commands.run(command).await;
        // What is left to write is summaries of folded refusals, which a command
        // makes none of: a failure here doesn't undo or hide what was done.
        if let Err(e) = commands.close().await {
            eprintln!("roomgate: warning: {e:#}");
        }
        done.map_err(|e| match e {
            CommandError::Refused(why) => anyhow::anyhow!(why),
            CommandError::Failed(e) => e,
        })
    });
    match done {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roomgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `store check`: the settings `serve` would use, the store they name, and whether it
/// answers. A running `serve` holds the embedded store's lock; that is reported as
/// in use, not as a failure.
fn store_check() -> ExitCode {
    let settings = match store_settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut evicts = None;
    let checked = match &settings {
        StoreSettings::Embedded { dir } => roomgate::store::embedded::inspect(dir),
        StoreSettings::Redis { url, prefix } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for one check");
            runtime.block_on(async {
                let store = roomgate::store::redis::RedisStore::connect(url, prefix).await?;
                evicts = store.evicts().map(str::to_owned);
                store.check().await
            })
        }
    };
    match checked {
        Ok(status) => {
            println!("backend: {}", status.backend);
            println!("location: {}", status.location);
            println!("schema version: {}", status.schema_version);
            println!("reachable: yes");
            if let Some(policy) = evicts {
                println!(
                    "warning: maxmemory-policy {policy}: Redis may evict roomgate's keys (revocations, lockouts) to make room; set it to noeviction"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "backend: {}",
                match settings {
                    StoreSettings::Embedded { .. } => "embedded",
                    StoreSettings::Redis { .. } => "redis",
                }
            );
            println!("reachable: no ({e})");
            ExitCode::FAILURE
        }
    }
}

/// The store `serve` would use, from `.env` and the environment.
fn store_settings() -> Result<StoreSettings, String> {
    roomgate::config::load_dotenv()?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    // The URL may come from a file, as for `serve`.
    roomgate::twilio::credentials::secret_var(env, "ROOMGATE_REDIS_URL").and_then(|(url, _)| {
        StoreSettings::from_lookup(|name| match name {
            "ROOMGATE_REDIS_URL" => url.clone(),
            _ => env(name),
        })
        .map_err(|e| e.join("\n"))
    })
}

/// `audit show`. There is no flag for the key itself: it would end up in shell
/// history and in `ps`.
fn show_audit(args: AuditShowArgs) -> ExitCode {
    if let Err(e) = roomgate::config::load_dotenv() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    // `--key-file` replaces any key the environment names, and so do its errors.
    // Folding and rotation are the server's business: a bad value there must not keep
    // anyone from reading the log.
    let config = AuditConfig::from_lookup(|name| match name {
        "ROOMGATE_AUDIT_KEY" | "ROOMGATE_AUDIT_KEY_FILE" if args.key_file.is_some() => None,
        "ROOMGATE_AUDIT_FOLD_SECS"
        | "ROOMGATE_AUDIT_FOLD_KEYS"
        | "ROOMGATE_AUDIT_MAX_BYTES"
        | "ROOMGATE_AUDIT_KEEP" => None,
        _ => std::env::var(name).ok(),
    });
    let mut errors = Vec::new();
    let (env_file, env_key) = match config {
        Ok(config) => (Some(config.path), config.key),
        Err(lines) => {
            errors.extend(lines);
            (None, None)
        }
    };
    let key = match &args.key_file {
        Some(path) => AuditKey::from_file(path).map(Some).unwrap_or_else(|e| {
            errors.push(format!("--key-file: {e}"));
            None
        }),
        None => env_key,
    };
    let since = args.since.as_deref().and_then(|s| {
        audit::parse_since(s, SystemTime::now())
            .map_err(|e| errors.push(e))
            .ok()
    });
    if !errors.is_empty() {
        eprintln!("{}", errors.join("\n"));
        return ExitCode::FAILURE;
    }
    let file = args
        .file
        .or(env_file)
        .unwrap_or_else(|| audit::DEFAULT_AUDIT_LOG.into());
    let opts = ShowOptions {
        file,
        since,
        user: args.user,
        room: args.room,
        key,
    };
    match audit::show(opts, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // `audit show | head`: the reader has all it wanted.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roomgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn acl_command(args: AclArgs) -> ExitCode {
    // Same `.env` and country policy as `serve`, so that what passes here loads there.
    if let Err(e) = roomgate::config::load_dotenv() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let policy = match AclPolicy::from_lookup(|n| std::env::var(n).ok()) {
        Ok(policy) => policy,
        Err(lines) => {
            eprintln!("{}", lines.join("\n"));
            return ExitCode::FAILURE;
        }
    };
    let path = args
        .acl
        .clone()
        .unwrap_or_else(|| roomgate::config::acl_path(|n| std::env::var(n).ok()));
    let edit = match args.command {
        AclCommand::Check { file } => {
            if file.is_some() && args.acl.is_some() {
                eprintln!("roomgate acl check: give the file once, as FILE or as --acl");
                return ExitCode::from(2);
            }
            return check_acl(file.as_deref().unwrap_or(&path), &policy);
        }
        AclCommand::List { show_phones } => {
            return match acl::list_file_with(&path, &policy, show_phones) {
                Ok(listing) => {
                    print!("{listing}");
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::FAILURE
                }
            };
        }
        AclCommand::Add {
            user,
            phone,
            rooms,
            host,
            channels,
        } => Edit::Add {
            user,
            phone,
            rooms,
            role: if host { Role::Host } else { Role::Participant },
            channels,
        },
        AclCommand::SetChannels { user, channels } => Edit::SetChannels { user, channels },
        AclCommand::Remove { user } => Edit::Remove { user },
        AclCommand::SetPhone { user, phone } => Edit::SetPhone { user, phone },
        AclCommand::Grant { user, room } => Edit::Grant { user, room },
        AclCommand::Revoke { user, room } => Edit::Revoke { user, room },
        AclCommand::Room {
            room,
            recording,
            retention_days,
        } => Edit::Room {
            room,
            recording,
            retention_days,
        },
    };
    match edit::apply(&path, &policy, &edit) {
        // Made, but the list still isn't one `serve` takes: a script must not go on.
        Ok(edited) if edited.errors_left > 0 => {
            eprintln!("{}", edited.message);
            ExitCode::FAILURE
        }
        Ok(edited) => {
            println!("{}", edited.message);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check_acl(file: &Path, policy: &AclPolicy) -> ExitCode {
    match acl::check_file_with(file, policy) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// `text` with each variable a flag was given for named as that flag instead
/// (`--token-ttl must be …`): the value in error is the flag's, not the environment's.
fn flags_named(text: &str, overrides: &[(&str, Option<String>)]) -> String {
    let mut text = text.to_owned();
    for (name, _) in overrides.iter().filter(|(_, given)| given.is_some()) {
        let flag = format!(
            "--{}",
            name.trim_start_matches("ROOMGATE_")
                .to_ascii_lowercase()
                .replace('_', "-")
        );
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(name) {
            let after = &rest[at + name.len()..];
            // A whole name only: not the start of a longer one.
            let whole = !after.starts_with(|c: char| c.is_ascii_uppercase() || c == '_');
            out.push_str(&rest[..at]);
            out.push_str(if whole { &flag } else { name });
            rest = after;
        }
        out.push_str(rest);
        text = out;
    }
    text
}

fn serve(args: ServeArgs) -> ExitCode {
    // Held to the end: dropping it writes the log lines still queued.
    let _log = roomgate::telemetry::init("info");
    let overrides = [
        ("ROOMGATE_ADDR", args.addr),
        ("ROOMGATE_ACL", args.acl),
        ("ROOMGATE_PUBLIC_URL", args.public_url),
        ("ROOMGATE_DEFAULT_ROOM", args.default_room),
        ("ROOMGATE_TOKEN_TTL", args.token_ttl),
        ("ROOMGATE_VIDEO_SDK_URL", args.video_sdk_url),
    ];
    // Every problem at once, one line each: configuration first, then the ACL.
    let settings = Settings::from_env(&overrides);
    let (acl_path, policy) = match &settings {
        Ok(s) => (s.acl_path.clone(), s.acl_policy.clone()),
        Err(_) => (
            roomgate::config::acl_path(|n| {
                overrides[1].1.clone().or_else(|| std::env::var(n).ok())
            }),
            // Its own errors are already among the settings errors.
            AclPolicy::from_lookup(|n| std::env::var(n).ok()).unwrap_or_default(),
        ),
    };
    let acl = Acl::load_at_start(&acl_path, &policy);
    // What parsing a large list used beyond the list itself goes back to the system.
    roomgate::memory::release_freed();
    let (settings, acl) = match (settings, acl) {
        (Ok(s), Ok(a)) => (s, a),
        (settings, acl) => {
            if let Err(e) = settings {
                eprintln!("{}", flags_named(&e.to_string(), &overrides));
            }
            if let Err(e) = acl {
                eprintln!("{e}");
            }
            eprintln!("roomgate: not started; fix the lines above.");
            return ExitCode::FAILURE;
        }
    };
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    for warning in acl.acl.warnings() {
        tracing::warn!(file = %acl_path.display(), "ACL: {warning}");
    }
    // Only Twilio's signed callbacks start the jobs that copy recordings off Twilio
    // and delete them there: without the Auth Token to check them, a recorded room's
    // recordings would stay at Twilio, past their retention.
    if let Mode::Twilio(t) = &settings.mode
        && t.auth_token.is_none()
        && t.auth_token_file.is_none()
        && let Some((room, _)) = acl
            .acl
            .configured_rooms()
            .find(|(_, s)| s.recording != roomgate::acl::RecordingMode::Off)
    {
        tracing::warn!(
            %room,
            "rooms are set to record, but TWILIO_AUTH_TOKEN is not set: Twilio's recording callbacks can't be checked, so recordings would stay at Twilio, never copied to your storage nor deleted after retention_days"
        );
    }
    if settings.session_key_generated {
        tracing::warn!(
            "ROOMGATE_SESSION_KEY is not set: using a random key kept in the data directory (session.key)"
        );
    }
    let mode = match settings.mode {
        Mode::Local => "local mode: codes are printed here, nothing is sent",
        Mode::Twilio(_) => "Twilio mode",
    };
    let users = acl.acl.user_count();
    // Browsers allow WebAuthn only in a secure context, and never on an IP address:
    // locally that means http://localhost, which the start-up line says.
    // Where they work is the public URL (the relying party's origin), whatever port
    // the server itself listens on.
    let local_passkeys = (matches!(settings.mode, Mode::Local)
        && settings.passkeys != roomgate::passkeys::PasskeyMode::Off)
        .then(|| {
            (settings.public_url.domain() == Some("localhost"))
                .then(|| settings.public_url.origin().ascii_serialization())
        });
    let url_host = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let (addr_ip, admin_ip) = (
        url_host(settings.addr.ip()),
        url_host(settings.admin_addr.ip()),
    );
    let admin_on_every_interface = settings.admin_addr.ip().is_unspecified();
    actix_web::rt::System::new().block_on(async move {
        let app = match Application::build(settings, acl).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("roomgate: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        // Start-up's working memory (the number plans' patterns, templates and
        // catalogs being built, certificates read) goes back before the first request,
        // rather than when later allocations happen to come by: an idle server holds
        // only what it keeps.
        roomgate::memory::release_freed();
        // On stdout, like the local-mode codes: what a person (or a test) reads.
        println!(
            "roomgate listening on http://{}:{} ({mode}; {users} {} on the list)",
            addr_ip,
            app.port(),
            if users == 1 { "user" } else { "users" }
        );
        // The port too when the setting left it to the system (`:0`); on every
        // interface, the address to ask from here.
        let (admin_host, everywhere) = if admin_on_every_interface {
            ("127.0.0.1".to_owned(), " (listening on every interface)")
        } else {
            (admin_ip, "")
        };
        println!(
            "metrics on http://{admin_host}:{}/metrics, readiness on /readyz there{everywhere}",
            app.admin_port()
        );
        match local_passkeys {
            Some(Some(origin)) => println!("passkeys work at {origin}"),
            Some(None) => println!(
                "passkeys need http://localhost:{0} (browsers refuse them on an IP address): set ROOMGATE_PUBLIC_URL=http://localhost:{0} and open that",
                app.port()
            ),
            None => {}
        }
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roomgate: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
