//! Logging set-up for `App::serve`.

/// Installs a `tracing` subscriber that prints to stderr, filtered by
/// `RUST_LOG` (default `info`), unless the program installed its own.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // `try_init` fails only when a subscriber is already set: keep that one.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
