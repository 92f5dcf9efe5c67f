//! Logs and metrics: the subscriber `App::serve` installs (`init`), the
//! span each request runs in and what it counts (`requests`), and the
//! app's registry of metrics (`metrics`).

use fastsaas_core::Environment;

pub(crate) mod metrics;
pub(crate) mod requests;

/// Installs a `tracing` subscriber that prints to stderr, filtered by
/// `RUST_LOG` (default `info`), unless the program installed its own:
/// JSON lines in production (one object per event, with the fields of its
/// spans), readable lines elsewhere.
pub(crate) fn init(env: Environment) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set: keep that one.
    let _ = match env {
        Environment::Production => builder.json().flatten_event(true).try_init(),
        _ => builder.try_init(),
    };
}
