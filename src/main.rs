use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roomgate::acl::{self, Acl, AclPolicy};
use roomgate::config::{Mode, Settings};
use roomgate::startup::Application;

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
    Acl {
        #[command(subcommand)]
        command: AclCommand,
    },
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
    /// Validate an ACL file: a summary and exit 0, or every error and exit 1.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Acl {
            command: AclCommand::Check { file },
        } => check_acl(&file),
    }
}

/// `acl check`: the same country policy `serve` would apply.
fn check_acl(file: &std::path::Path) -> ExitCode {
    let _ = dotenvy::dotenv();
    let policy = match AclPolicy::from_lookup(|n| std::env::var(n).ok()) {
        Ok(policy) => policy,
        Err(lines) => {
            eprintln!("{}", lines.join("\n"));
            return ExitCode::FAILURE;
        }
    };
    match acl::check_file_with(file, &policy) {
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

fn serve(args: ServeArgs) -> ExitCode {
    roomgate::telemetry::init("info");
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
            overrides[1]
                .1
                .clone()
                .or_else(|| std::env::var("ROOMGATE_ACL").ok())
                .unwrap_or_else(|| roomgate::config::DEFAULT_ACL.into())
                .into(),
            // Its own errors are already among the settings errors.
            AclPolicy::from_lookup(|n| std::env::var(n).ok()).unwrap_or_default(),
        ),
    };
    let acl = Acl::load_with(&acl_path, &policy);
    let (settings, acl) = match (settings, acl) {
        (Ok(s), Ok(a)) => (s, a),
        (settings, acl) => {
            if let Err(e) = settings {
                eprintln!("{e}");
            }
            if let Err(e) = acl {
                eprintln!("{e}");
            }
            eprintln!("roomgate: not started; fix the lines above.");
            return ExitCode::FAILURE;
        }
    };
    if settings.session_key_generated {
        tracing::warn!(
            "ROOMGATE_SESSION_KEY is not set: using a random key, so sessions end when roomgate restarts"
        );
    }
    let mode = match settings.mode {
        Mode::Local => "local mode: codes are printed here, nothing is sent",
        Mode::Twilio(_) => "Twilio mode",
    };
    let users = acl.user_count();
    let addr_ip = match settings.addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    actix_web::rt::System::new().block_on(async move {
        let app = match Application::build(settings, acl) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("roomgate: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        // On stdout, like the local-mode codes: what a person (or a test) reads.
        println!(
            "roomgate listening on http://{}:{} ({mode}; {users} users on the list)",
            addr_ip,
            app.port()
        );
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roomgate: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
