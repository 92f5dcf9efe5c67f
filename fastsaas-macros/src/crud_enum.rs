//! Code generation for `#[derive(CrudEnum)]`: a string-backed enum as a field.

use heck::{ToKebabCase, ToLowerCamelCase, ToShoutyKebabCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr};

/// Expands `#[derive(CrudEnum)]`.
pub(crate) fn crud_enum(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(input.ident.span(), "#[derive(CrudEnum)] applies to enums of unit variants"));
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |error: syn::Error| match &mut errors {
        Some(all) => all.combine(error),
        None => errors = Some(error),
    };
    if let Some(param) = input.generics.params.first() {
        push(syn::Error::new(param.span(), "a string-backed enum cannot be generic"));
    }
    let rename_all = serde_value(&input.attrs, "rename_all").unwrap_or_else(|err| {
        push(err);
        None
    });
    let mut names = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            push(syn::Error::new(variant.fields.span(), "a string-backed enum has unit variants only"));
            continue;
        }
        let renamed = serde_value(&variant.attrs, "rename").unwrap_or_else(|err| {
            push(err);
            None
        });
        let name = match (renamed, &rename_all) {
            (Some(name), _) => name.value(),
            (None, Some(rule)) => match apply_case(&variant.ident.to_string(), &rule.value()) {
                Some(name) => name,
                None => {
                    push(syn::Error::new(rule.span(), "unknown `rename_all` rule"));
                    continue;
                }
            },
            (None, None) => variant.ident.to_string(),
        };
        names.push(name);
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let krate: syn::Path = crate_path(&input.attrs)?.unwrap_or_else(|| syn::parse_quote!(::fastsaas));
    let private = quote!(#krate::__private);
    let ident = &input.ident;
    Ok(quote! {
        #[automatically_derived]
        impl #private::StringEnum for #ident {
            const VARIANTS: &'static [&'static str] = &[#(#names),*];
        }

        #[automatically_derived]
        impl #private::Field for #ident {
            type Stored = #private::String;
            const KIND: #private::FieldKind =
                #private::FieldKind::Enum(<Self as #private::StringEnum>::VARIANTS);
            fn into_stored(self) -> Self::Stored {
                #private::enum_to_stored(&self)
            }
            fn from_stored(stored: Self::Stored) -> ::core::result::Result<Self, #private::DecodeError> {
                #private::enum_from_stored(stored)
            }
        }

        #[automatically_derived]
        impl #private::options::SingleValue for #ident {}
    })
}

/// The string value of `#[serde(key = "...")]`, if present.
fn serde_value(attrs: &[Attribute], key: &str) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                found = Some(meta.value()?.parse::<LitStr>()?);
            } else if meta.input.peek(syn::Token![=]) {
                // Another serde option with a value: skip it.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// `#[crud(crate = "path")]` on the enum, if present.
fn crate_path(attrs: &[Attribute]) -> syn::Result<Option<syn::Path>> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("crud")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                found = Some(meta.value()?.parse::<LitStr>()?.parse::<syn::Path>()?);
                Ok(())
            } else {
                Err(meta.error("unknown option; #[derive(CrudEnum)] accepts #[crud(crate = \"path\")]"))
            }
        })?;
    }
    Ok(found)
}

/// A variant name under a serde `rename_all` rule.
fn apply_case(variant: &str, rule: &str) -> Option<String> {
    Some(match rule {
        "lowercase" => variant.to_lowercase(),
        "UPPERCASE" => variant.to_uppercase(),
        "PascalCase" => variant.to_upper_camel_case(),
        "camelCase" => variant.to_lower_camel_case(),
        "snake_case" => variant.to_snake_case(),
        "SCREAMING_SNAKE_CASE" => variant.to_shouty_snake_case(),
        "kebab-case" => variant.to_kebab_case(),
        "SCREAMING-KEBAB-CASE" => variant.to_shouty_kebab_case(),
        _ => return None,
    })
}
