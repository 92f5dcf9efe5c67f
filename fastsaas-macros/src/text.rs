//! Text shared by the macros: doc comments and names.

use syn::{Attribute, Expr};

/// The text of `///` comments, joined by newlines.
pub(crate) fn doc_text(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }),
                ..
            }) => Some(text.value().trim().to_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `word` with its first letter in upper case (`get` → `Get`).
pub(crate) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}
