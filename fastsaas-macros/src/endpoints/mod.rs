//! `#[endpoints]` on an `impl` block of a resource: each `#[endpoint(...)]`
//! method becomes a route under the resource's scope, checking its action.
//! One stage per file: the attribute options (`attr`), the checks of every
//! method, all errors at once, each on its token (`check`), which build the
//! typed view (`model`), and the generated code (`expand`).

mod attr;
mod check;
mod expand;
mod model;

pub(crate) use expand::endpoints;
