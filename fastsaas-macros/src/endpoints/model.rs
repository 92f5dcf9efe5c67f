//! The typed view of a checked `#[endpoints]` block: one entry per
//! `#[endpoint]` method, with the spans the expansion needs.

use syn::{Ident, LitStr, ReturnType, Type};

/// Who may call an endpoint.
pub(crate) enum Access {
    Action(String),
    SignedIn,
    Public,
}

/// One checked endpoint.
pub(crate) struct Endpoint {
    pub(crate) function: Ident,
    pub(crate) method: String,
    pub(crate) path: LitStr,
    pub(crate) access: Access,
    pub(crate) params: Vec<String>,
    pub(crate) doc: String,
    pub(crate) json_body: bool,
    /// The argument types and the return type, which the expansion checks.
    pub(crate) arguments: Vec<Type>,
    pub(crate) output: ReturnType,
    /// `X` of a `Json<X>` argument, and of a `Json<X>` in the return type.
    pub(crate) request: Option<Type>,
    pub(crate) response: Option<Type>,
}
