//! Descriptions of the identity routes' bodies, in the same terms as a
//! resource's fields, so bodies are read and checked by the same code.

use fastsaas_core::{Access, ApiError, ApiResult, FieldError, FieldKind, FieldSpec, Rule};

/// A field of a framework body.
pub(crate) const fn field(name: &'static str, kind: FieldKind, rules: &'static [Rule]) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        nullable: false,
        access: Access::ReadWrite,
        unique: false,
        unique_per_owner: false,
        encrypted: false,
        index: false,
        filter: false,
        sort: false,
        has_default: false,
        rules,
        doc: "",
    }
}

/// A text field of a framework body.
pub(crate) const fn text(name: &'static str, access: Access, nullable: bool, rules: &'static [Rule]) -> FieldSpec {
    FieldSpec { access, nullable, ..field(name, FieldKind::Text, rules) }
}

/// `Ok` when no rule failed, else the 400 naming every failure.
pub(crate) fn rejected(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}
