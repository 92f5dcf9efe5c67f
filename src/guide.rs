//! The guide (`docs/guide/`), compiled as doc tests: every Rust block of
//! every chapter builds, and runs unless it is marked `no_run`, in
//! `cargo test`. Nothing here exists outside `cfg(doctest)`.

#[doc = include_str!("../docs/guide/01-getting-started.md")]
mod getting_started {}

#[doc = include_str!("../docs/guide/02-resources.md")]
mod resources {}

#[doc = include_str!("../docs/guide/03-access-control.md")]
mod access_control {}

#[doc = include_str!("../docs/guide/04-templates.md")]
mod templates {}

#[doc = include_str!("../docs/guide/05-custom-endpoints.md")]
mod custom_endpoints {}

#[doc = include_str!("../docs/guide/06-notifications.md")]
mod notifications {}

#[doc = include_str!("../docs/guide/07-tasks.md")]
mod tasks {}

#[doc = include_str!("../docs/guide/08-settings.md")]
mod settings {}

#[doc = include_str!("../docs/guide/09-observability.md")]
mod observability {}

#[doc = include_str!("../docs/guide/10-testing.md")]
mod testing {}

#[doc = include_str!("../docs/guide/11-deployment.md")]
mod deployment {}

#[doc = include_str!("../docs/guide/12-performance.md")]
mod performance {}

#[doc = include_str!("../docs/guide/13-caching.md")]
mod caching {}

#[doc = include_str!("../docs/guide/14-references.md")]
mod references {}
