//! Code generation for `#[endpoints]`: the block without the markers, one
//! static description per endpoint, compile-time checks of the argument and
//! return types on the user's tokens, and the `Endpoints` impl the derive's
//! probe finds.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, ReturnType, Type};

use super::attr::BlockOptions;
use super::check;
use super::model::{Access, Endpoint};
use crate::text::capitalized;

/// Expands `#[endpoints]`.
pub(crate) fn endpoints(attr: TokenStream, mut block: ItemImpl) -> syn::Result<TokenStream> {
    let options = darling::ast::NestedMeta::parse_meta_list(attr)
        .map_err(darling::Error::from)
        .and_then(|items| <BlockOptions as darling::FromMeta>::from_list(&items));
    let (krate, options_error) = match options {
        Ok(options) => (options.krate.unwrap_or_else(|| syn::parse_quote!(::fastsaas)), None),
        Err(error) => (syn::parse_quote!(::fastsaas), Some(syn::Error::from(error))),
    };
    let private = quote!(#krate::__private);
    let checked = check::block(&mut block);
    match (checked, options_error) {
        (Ok(endpoints), None) => Ok(generate(&private, &block, &endpoints)),
        (checked, options_error) => {
            let mut errors = options_error.into_iter().chain(checked.err());
            let mut error = errors
                .next()
                .unwrap_or_else(|| syn::Error::new(proc_macro2::Span::call_site(), "invalid #[endpoints]"));
            error.extend(errors);
            Ok(failed(block, &error))
        }
    }
}

/// The block as written, without its markers, beside the errors: so that
/// its methods and their callers do not pile further errors on the ones
/// that matter.
fn failed(mut block: ItemImpl, error: &syn::Error) -> TokenStream {
    for item in &mut block.items {
        if let ImplItem::Fn(function) = item {
            function.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
        }
    }
    let error = error.to_compile_error();
    quote!(#block #error)
}

/// Calls that fail to compile on the user's token when an argument is not
/// an extractor or the return value is not a response.
fn type_checks(private: &TokenStream, arguments: &[Type], output: &ReturnType) -> TokenStream {
    let mut checks = TokenStream::new();
    if let Some((last, heads)) = arguments.split_last() {
        for ty in heads {
            checks.extend(quote_spanned!(ty.span()=> #private::checks::extractor_from_parts::<#ty>();));
        }
        checks.extend(quote_spanned!(last.span()=> #private::checks::extractor::<_, #last>();));
    }
    if let ReturnType::Type(_, ty) = output
        && !matches!(**ty, Type::ImplTrait(_))
    {
        checks.extend(quote_spanned!(ty.span()=> #private::checks::response::<#ty>();));
    }
    checks
}

/// A function giving the schema of `ty` if it implements `ToSchema`.
fn schema_of(private: &TokenStream, ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) => quote! {
            || {
                use #private::{ViaNoSchema as _, ViaToSchema as _};
                (&&#private::SchemaProbe::<#ty>::new()).schema()
            }
        },
        None => quote!(|| ::core::option::Option::None),
    }
}

fn generate(private: &TokenStream, block: &ItemImpl, endpoints: &[Endpoint]) -> TokenStream {
    let self_ty = &block.self_ty;
    let statics = endpoints.iter().enumerate().map(|(index, endpoint)| {
        let name = format_ident!("ENDPOINT_{index}");
        let method = format_ident!("{}", capitalized(&endpoint.method));
        let (path, doc) = (&endpoint.path, &endpoint.doc);
        let access = match &endpoint.access {
            Access::Action(action) => quote!(#private::EndpointAccess::Action(#action)),
            Access::SignedIn => quote!(#private::EndpointAccess::SignedIn),
            Access::Public => quote!(#private::EndpointAccess::Public),
        };
        let function = endpoint.function.to_string();
        let summary = endpoint.doc.split("\n\n").next().unwrap_or_default().replace('\n', " ");
        let params = endpoint.params.iter().map(|param| {
            let is_id = param == "id";
            quote!(#private::PathParam::new(#param, #is_id))
        });
        let json_body = endpoint.json_body.then(|| quote!(.with_json_body()));
        quote! {
            static #name: #private::EndpointSpec =
                #private::EndpointSpec::new(#private::EndpointMethod::#method, #path, #access, #function)
                    .with_doc(#summary, #doc)
                    .with_params(&[#(#params),*])
                    #json_body;
        }
    });
    let registered = endpoints.iter().enumerate().map(|(index, endpoint)| {
        let (name, function) = (format_ident!("ENDPOINT_{index}"), &endpoint.function);
        let endpoint_new = quote!(#private::Endpoint::new::<#self_ty, _, _>(&#name, <#self_ty>::#function));
        if endpoint.request.is_none() && endpoint.response.is_none() {
            return endpoint_new;
        }
        let (request, response) =
            (schema_of(private, endpoint.request.as_ref()), schema_of(private, endpoint.response.as_ref()));
        quote!(#endpoint_new.with_schemas(#request, #response))
    });
    let checks = endpoints.iter().map(|endpoint| type_checks(private, &endpoint.arguments, &endpoint.output));
    let impl_span = self_ty.span();
    let endpoints_impl = quote_spanned! {impl_span=>
        #[automatically_derived]
        impl #private::Endpoints for #self_ty {
            fn endpoints() -> #private::Vec<#private::Endpoint> {
                #private::vec![#(#registered),*]
            }
        }
    };
    quote! {
        #block

        #[doc(hidden)]
        const _: () = {
            #(#statics)*

            #[allow(dead_code)]
            fn __fastsaas_type_checks() {
                #(#checks)*
            }

            #endpoints_impl
        };
    }
}
