//! Tracing set-up. Events carry masked phone numbers and never codes, tokens or
//! secrets; the filter comes from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Logs go to stderr; stdout is kept for command output and local-mode codes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
