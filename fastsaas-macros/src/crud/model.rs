//! The typed view of a checked `#[derive(Crud)]` input: what the expansion
//! reads. The original syn nodes stay where errors or generated code need
//! their spans.

use proc_macro2::Span;
use syn::{Expr, Ident, LitStr, Type};

pub(crate) use super::attr::OnDeleteOption;

pub(crate) struct Resource {
    pub(crate) ident: Ident,
    /// The stable name: `#[crud(name = "...")]`, else the type's name.
    pub(crate) name: String,
    pub(crate) krate: syn::Path,
    pub(crate) path: String,
    pub(crate) table: String,
    pub(crate) ops: Vec<Ident>,
    pub(crate) acl_admins: Vec<LitStr>,
    pub(crate) acl_allow_always: Vec<LitStr>,
    pub(crate) authenticated: bool,
    pub(crate) templated: bool,
    pub(crate) notify: bool,
    /// `cache(ttl_secs = N)`: how long rows read by id are cached.
    pub(crate) cache_ttl_secs: Option<u64>,
    pub(crate) doc: String,
    pub(crate) fields: Vec<Field>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
    WriteOnly,
    Hidden,
}

impl Access {
    pub(crate) fn is_writable(self) -> bool {
        matches!(self, Access::ReadWrite | Access::WriteOnly)
    }
}

/// An option whose fitness for the field's type the type system decides:
/// the expansion names `options::{trait}` on the field's type, spanned on the
/// option's token.
pub(crate) struct OptionCheck {
    pub(crate) span: Span,
    /// The trait of `fastsaas_runtime::field::options`, e.g. `LengthApplies`.
    pub(crate) rule: &'static str,
}

pub(crate) enum Rule {
    Length { min: Option<u64>, max: Option<u64> },
    Range { min: Option<f64>, max: Option<f64> },
    Email,
    Pattern(String),
}

pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) name: String,
    pub(crate) ty: Type,
    /// `T` of an `Option<T>` field, else the type itself.
    pub(crate) inner_ty: Type,
    pub(crate) nullable: bool,
    pub(crate) access: Access,
    pub(crate) default: Option<Expr>,
    pub(crate) unique: bool,
    pub(crate) unique_per_owner: bool,
    pub(crate) encrypted: bool,
    pub(crate) index: bool,
    pub(crate) filter: bool,
    pub(crate) sort: bool,
    pub(crate) rules: Vec<Rule>,
    pub(crate) doc: String,
    pub(crate) option_checks: Vec<OptionCheck>,
    pub(crate) reference: Option<Reference>,
}

/// `references(...)`: the referenced type, as written (errors about it
/// point there), the action needed on it, and what deleting it does.
pub(crate) struct Reference {
    pub(crate) target: syn::Path,
    pub(crate) action: String,
    pub(crate) on_delete: OnDeleteOption,
    pub(crate) expand: bool,
}

/// A derive that cannot go on: its errors, and the fields that were sound,
/// whose types the expansion still checks so that every error shows at once.
pub(crate) struct Failure {
    pub(crate) errors: darling::Error,
    pub(crate) fields: Vec<Field>,
}

impl From<darling::Error> for Failure {
    fn from(errors: darling::Error) -> Self {
        Failure { errors, fields: Vec::new() }
    }
}
