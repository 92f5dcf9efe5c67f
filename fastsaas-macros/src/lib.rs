//! The macros of FastSaaS. Use them through the `fastsaas` crate, which
//! documents every attribute: `fastsaas::Crud`, `fastsaas::CrudEnum`,
//! `fastsaas::endpoints`.
//!
//! Each entry point parses, calls an expander returning
//! `syn::Result<TokenStream>`, and turns errors into `compile_error!`.
//! `crud` and `endpoints` hold one stage per file: `attr` (the options, as
//! darling receivers), `check` (every rule, all errors at once, each on its
//! token), `model` (the checked, typed view) and `expand` (the generated
//! code). `crud_enum` is small enough for one file; `text` holds what they
//! share.

use proc_macro::TokenStream;
use syn::parse_macro_input;

mod crud;
mod crud_enum;
mod endpoints;
mod text;

/// Turns a struct into a FastSaaS resource. Documented on `fastsaas::Crud`.
#[proc_macro_derive(Crud, attributes(crud, scope))]
pub fn derive_crud(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as syn::DeriveInput);
    finish("derive(Crud)", crud::crud(&input))
}

/// Makes an enum of unit variants a string-backed field type. Documented on
/// `fastsaas::CrudEnum`.
#[proc_macro_derive(CrudEnum, attributes(crud))]
pub fn derive_crud_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as syn::DeriveInput);
    finish("derive(CrudEnum)", crud_enum::crud_enum(&input))
}

/// Mounts the `#[endpoint]` methods of an `impl` block of a resource under
/// its scope. Documented on `fastsaas::endpoints`.
#[proc_macro_attribute]
pub fn endpoints(attr: TokenStream, item: TokenStream) -> TokenStream {
    let block = parse_macro_input!(item as syn::ItemImpl);
    finish("endpoints", endpoints::endpoints(attr.into(), block))
}

/// Marks a method of an `#[endpoints]` block as a route; alone it is an
/// error. Documented on `fastsaas::endpoints`.
#[proc_macro_attribute]
pub fn endpoint(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[endpoint]` only works on a method of an `impl` block marked `#[endpoints]`",
    );
    let mut output = error.into_compile_error();
    output.extend(proc_macro2::TokenStream::from(item));
    output.into()
}

fn finish(name: &str, expansion: syn::Result<proc_macro2::TokenStream>) -> TokenStream {
    let tokens = expansion.unwrap_or_else(syn::Error::into_compile_error);
    if std::env::var_os("FASTSAAS_MACROS_DEBUG").is_some() {
        eprintln!("// #[{name}] expands to:\n{tokens}");
    }
    tokens.into()
}

#[cfg(test)]
mod snapshot_tests;
