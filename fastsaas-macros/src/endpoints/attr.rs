//! The attribute options of `#[endpoints(...)]` and `#[endpoint(...)]`,
//! declared as darling receivers; the leading method and path of
//! `#[endpoint]` are positional, so they are taken off the list first.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::Flag;
use syn::{Attribute, Ident, Lit, LitStr, Meta};

/// `#[endpoints(crate = "path")]`: the facade's path when it is renamed or
/// re-exported.
#[derive(Default, FromMeta)]
pub(crate) struct BlockOptions {
    #[darling(rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// `#[endpoint(method, "/path", action = "name" | signed_in | public)]`
pub(crate) struct EndpointAttr {
    pub(crate) method: Ident,
    pub(crate) path: LitStr,
    pub(crate) options: EndpointOptions,
}

/// Who may call the endpoint: at most one of these (checked later, where the
/// error can name the one already given).
#[derive(FromMeta)]
pub(crate) struct EndpointOptions {
    /// `action = "name"`: the caller needs this action on the object (or
    /// type-wide on a path without `{id}`).
    pub(crate) action: Option<LitStr>,
    /// `signed_in`: anyone with valid credentials.
    pub(crate) signed_in: Flag,
    /// `public`: anyone.
    pub(crate) public: Flag,
}

impl EndpointAttr {
    /// Parses `attr`, collecting every error.
    pub(crate) fn from_attribute(attr: &Attribute) -> darling::Result<Self> {
        let list = match &attr.meta {
            Meta::List(list) => list,
            other => {
                return Err(darling::Error::custom(
                    "an endpoint needs its method and path: #[endpoint(get, \"/{id}/status\")]",
                )
                .with_span(other));
            }
        };
        let items = NestedMeta::parse_meta_list(list.tokens.clone())?;
        let mut errors = darling::Error::accumulator();
        let mut items = items.iter();
        let method = match items.next() {
            Some(NestedMeta::Meta(Meta::Path(path))) if path.get_ident().is_some() => path.get_ident().cloned(),
            Some(other) => {
                errors.push(darling::Error::custom("expected the HTTP method first, e.g. `get`").with_span(other));
                None
            }
            None => {
                errors.push(
                    darling::Error::custom("an endpoint needs its method and path: #[endpoint(get, \"/{id}/status\")]")
                        .with_span(&list.delimiter.span().join()),
                );
                None
            }
        };
        let path = match items.next() {
            Some(NestedMeta::Lit(Lit::Str(path))) => Some(path.clone()),
            Some(other) => {
                errors.push(
                    darling::Error::custom("expected the path second, as a string: \"/{id}/status\"").with_span(other),
                );
                None
            }
            None if method.is_some() => {
                errors.push(
                    darling::Error::custom(
                        "an endpoint needs its path after the method: #[endpoint(get, \"/{id}/status\")]",
                    )
                    .with_span(&list.delimiter.span().join()),
                );
                None
            }
            None => None,
        };
        let rest: Vec<NestedMeta> = items.cloned().collect();
        let options = errors.handle(EndpointOptions::from_list(&rest));
        errors.finish()?;
        match (method, path, options) {
            (Some(method), Some(path), Some(options)) => Ok(EndpointAttr { method, path, options }),
            // Each missing part pushed its error above.
            _ => Err(darling::Error::custom("invalid #[endpoint]")),
        }
    }
}
