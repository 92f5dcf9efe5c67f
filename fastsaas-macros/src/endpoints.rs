//! `#[endpoints]` on an `impl` block of a resource: each `#[endpoint(...)]`
//! method becomes a route under the resource's scope, checking its action.
//! Parse and check every method (all errors at once, each on its token),
//! then emit the block without the markers, one static description per
//! endpoint, compile-time checks of the argument types, and the `Endpoints`
//! impl the derive's probe finds.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Token, Type};

use fastsaas_core::resource::{OPERATION_ROUTES, SCOPE_PREFIXES};

use crate::expand::capitalized;
use crate::model::doc_text;

/// The methods an endpoint may answer.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// `#[endpoint(method, "/path", action = "name" | signed_in | public)]`
struct EndpointAttr {
    method: Ident,
    path: LitStr,
    action: Option<LitStr>,
    /// `signed_in` or `public`, with its token.
    open_to: Option<Ident>,
}

impl Parse for EndpointAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let method: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse()?;
        let (mut action, mut open_to) = (None::<LitStr>, None::<Ident>);
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            let taken = match (&action, &open_to) {
                (Some(action), _) => Some(format!("action = \"{}\"", action.value())),
                (_, Some(open)) => Some(open.to_string()),
                _ => None,
            };
            if (key == "action" || key == "signed_in" || key == "public")
                && let Some(taken) = taken
            {
                return Err(syn::Error::new(
                    key.span(),
                    format!("this endpoint already says who may call it (`{taken}`); keep one"),
                ));
            }
            if key == "action" {
                input.parse::<Token![=]>()?;
                action = Some(input.parse()?);
            } else if key == "signed_in" || key == "public" {
                open_to = Some(key);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    "unknown option; expected `action = \"name\"`, `signed_in` or `public`",
                ));
            }
        }
        Ok(EndpointAttr { method, path, action, open_to })
    }
}

/// Who may call an endpoint.
enum Access {
    Action(String),
    SignedIn,
    Public,
}

/// One checked endpoint.
struct Endpoint {
    function: Ident,
    method: String,
    path: LitStr,
    access: Access,
    params: Vec<String>,
    doc: String,
    json_body: bool,
    checks: TokenStream,
    /// `X` of a `Json<X>` argument, and of a `Json<X>` in the return type.
    request: Option<Type>,
    response: Option<Type>,
}

/// Collects errors so that every problem is reported at once.
#[derive(Default)]
struct Errors(Vec<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn finish(self) -> syn::Result<()> {
        let mut all = self.0.into_iter();
        let Some(mut first) = all.next() else {
            return Ok(());
        };
        first.extend(all);
        Err(first)
    }
}

/// Expands `#[endpoints]`.
pub(crate) fn endpoints(attr: TokenStream, mut block: ItemImpl) -> syn::Result<TokenStream> {
    let krate = facade(attr)?;
    let private = quote!(#krate::__private);
    let mut errors = Errors::default();
    if let Some(param) = block.generics.params.first() {
        errors.push(param.span(), "`#[endpoints]` goes on an `impl` block of one resource type, without generics");
    }
    if let Some((_, path, _)) = &block.trait_ {
        errors.push(path.span(), "`#[endpoints]` goes on an inherent `impl` block (`impl Agent`), not a trait impl");
    }
    let mut endpoints = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(function) = item else {
            continue;
        };
        let mut markers = Vec::new();
        function.attrs.retain(|attr| {
            let marker = attr.path().is_ident("endpoint");
            if marker {
                markers.push(attr.clone());
            }
            !marker
        });
        if let Some(again) = markers.get(1) {
            errors.push(again.span(), "one `#[endpoint]` per method: a method serves one route");
        }
        if let Some(marker) = markers.first() {
            // Axum needs an `async fn` even when the body awaits nothing.
            function.attrs.push(syn::parse_quote!(#[allow(clippy::unused_async)]));
            match marker.parse_args::<EndpointAttr>() {
                Ok(parsed) => endpoints.extend(endpoint(&private, function, parsed, &mut errors)),
                Err(err) => errors.0.push(err),
            }
        }
    }
    check_routes(&endpoints, &mut errors);
    match errors.finish() {
        Ok(()) => Ok(generate(&private, &block, &endpoints)),
        // The block stays, so that its methods and their callers do not
        // pile further errors on the ones that matter.
        Err(error) => {
            for item in &mut block.items {
                if let ImplItem::Fn(function) = item {
                    function.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
                }
            }
            let error = error.into_compile_error();
            Ok(quote!(#block #error))
        }
    }
}

/// `crate = "path"` in `#[endpoints(...)]`, for a renamed facade.
fn facade(attr: TokenStream) -> syn::Result<syn::Path> {
    if attr.is_empty() {
        return Ok(syn::parse_quote!(::fastsaas));
    }
    let parser = |input: ParseStream<'_>| {
        input.parse::<Token![crate]>()?;
        input.parse::<Token![=]>()?;
        let path: LitStr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("`#[endpoints]` takes only `crate = \"path\"`"));
        }
        path.parse::<syn::Path>()
    };
    syn::parse::Parser::parse2(parser, attr)
}

/// Checks one `#[endpoint]` method.
fn endpoint(private: &TokenStream, function: &ImplItemFn, attr: EndpointAttr, errors: &mut Errors) -> Option<Endpoint> {
    let signature = &function.sig;
    let before = errors.len();
    if signature.asyncness.is_none() {
        errors.push(signature.fn_token.span(), "an endpoint is an `async fn`: add `async`");
    }
    if let Some(receiver) = signature.receiver() {
        errors.push(
            receiver.span(),
            "an endpoint takes no `self`; take the object as `Authorized<Self>`, which checks the caller first",
        );
    }
    if let Some(param) = signature.generics.params.first() {
        errors.push(param.span(), "an endpoint cannot be generic: it is one route");
    }
    let method = attr.method.to_string();
    if !METHODS.contains(&method.as_str()) {
        errors.push(
            attr.method.span(),
            format!("unknown HTTP method `{method}`; expected one of {}", METHODS.join(", ")),
        );
    }
    let params = path_params(&attr.path, errors);
    let access = match (&attr.action, &attr.open_to) {
        (Some(action), _) => {
            let name = action.value();
            if !is_action(&name) {
                errors.push(
                    action.span(),
                    "an action is lowercase letters, digits, `_`, `.` and `-`, starting with a letter or `_`",
                );
            }
            Access::Action(name)
        }
        (None, Some(open)) if open == "public" => Access::Public,
        (None, Some(_)) => Access::SignedIn,
        (None, None) if method == "get" => Access::Action("read".to_owned()),
        (None, None) => Access::Action("update".to_owned()),
    };
    let arguments: Vec<&Type> = signature
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let takes = |names: &[&str]| arguments.iter().any(|ty| names.contains(&last_segment(ty).as_str()));
    for param in &params {
        let taken = if param == "id" { takes(&["Authorized", "Path"]) } else { takes(&["Path"]) };
        if !taken {
            let by = if param == "id" { "`Authorized<Self>` or `Path<...>`" } else { "`Path<...>`" };
            errors.push(attr.path.span(), format!("no argument takes the path parameter `{{{param}}}`; add {by}"));
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Endpoint {
        function: signature.ident.clone(),
        method,
        path: attr.path,
        access,
        params,
        doc: doc_text(&function.attrs),
        json_body: takes(&["Json"]),
        checks: type_checks(private, &arguments, &signature.output),
        request: arguments.iter().find_map(|ty| json_payload(ty)),
        response: match &signature.output {
            ReturnType::Type(_, ty) => json_payload(ty),
            ReturnType::Default => None,
        },
    })
}

/// The parameters of a path, checked: it starts with `/`, each `{name}` is
/// an identifier, and the object's id is called `{id}` as in the generated
/// routes (the router cannot tell two names apart at one position).
fn path_params(literal: &LitStr, errors: &mut Errors) -> Vec<String> {
    let path = literal.value();
    if !path.starts_with('/') {
        errors.push(literal.span(), "an endpoint path starts with `/`, e.g. \"/{id}/status\"");
        return Vec::new();
    }
    let mut params = Vec::new();
    for (position, segment) in path.split('/').skip(1).enumerate() {
        let Some(name) = segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) else {
            if segment.contains(['{', '}']) {
                errors.push(literal.span(), format!("`{segment}`: a parameter is a whole segment, `{{name}}`"));
            }
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            errors.push(literal.span(), format!("`{{{name}}}` is not a parameter name (letters, digits, `_`)"));
        } else if position == 0 && name != "id" {
            errors.push(
                literal.span(),
                format!("the object's id is `{{id}}` in every route of a resource, not `{{{name}}}`"),
            );
        } else if params.iter().any(|seen| seen == name) {
            errors.push(literal.span(), format!("`{{{name}}}` appears twice in the path"));
        } else {
            params.push(name.to_owned());
        }
    }
    params
}

/// No endpoint may take a route the framework serves, or another
/// endpoint's.
fn check_routes(endpoints: &[Endpoint], errors: &mut Errors) {
    let mut seen: BTreeMap<(String, String), &Endpoint> = BTreeMap::new();
    for endpoint in endpoints {
        let path = endpoint.path.value();
        let path = path.trim_end_matches('/');
        let method = endpoint.method.as_str();
        let shape = path_shape(path);
        let generated =
            OPERATION_ROUTES.iter().any(|(_, served, under)| served.eq_ignore_ascii_case(method) && *under == path);
        if generated {
            errors.push(
                endpoint.path.span(),
                format!("every resource already serves `{} {path}`", method.to_uppercase()),
            );
        } else if let Some(prefix) = SCOPE_PREFIXES.iter().find(|prefix| path.starts_with(*prefix)) {
            errors.push(endpoint.path.span(), format!("paths under `{prefix}` belong to the framework"));
        } else if let Some(first) = seen.get(&(method.to_owned(), shape.clone())) {
            errors.push(
                endpoint.path.span(),
                format!("`{}` already serves `{} {}`", first.function, method.to_uppercase(), first.path.value()),
            );
        } else {
            for other in seen.values() {
                if let Some(clash) = parameter_clash(&other.path.value(), path) {
                    errors.push(endpoint.path.span(), format!("{clash} (in `{}`)", other.function));
                }
            }
            seen.insert((method.to_owned(), shape), endpoint);
        }
    }
}

/// The path with every parameter written `{}`.
fn path_shape(path: &str) -> String {
    path.split('/').map(|segment| if segment.starts_with('{') { "{}" } else { segment }).collect::<Vec<_>>().join("/")
}

/// Two paths that name the parameter at one position differently, after
/// the same segments before it: a router cannot hold both.
fn parameter_clash(first: &str, second: &str) -> Option<String> {
    for (a, b) in first.split('/').zip(second.split('/')) {
        match (a.starts_with('{'), b.starts_with('{')) {
            (true, true) if a != b => {
                return Some(format!("`{b}` is called `{a}` at this position in another endpoint"));
            }
            (true, true) => {}
            _ if a != b => return None,
            _ => {}
        }
    }
    None
}

fn is_action(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

/// The last path segment of a type's name (`Authorized` of
/// `fastsaas::Authorized<Agent>`), looking through `Option<...>`.
fn last_segment(ty: &Type) -> String {
    let Type::Path(path) = ty else {
        return String::new();
    };
    path.path.segments.last().map(|segment| segment.ident.to_string()).unwrap_or_default()
}

/// `X` of the first `Json<X>` in `ty`, looking through generic arguments
/// and tuples (`ApiResult<(StatusCode, Json<X>)>`).
fn json_payload(ty: &Type) -> Option<Type> {
    match ty {
        Type::Tuple(tuple) => tuple.elems.iter().find_map(json_payload),
        Type::Paren(inner) => json_payload(&inner.elem),
        Type::Path(path) => {
            let segment = path.path.segments.last()?;
            let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments else {
                return None;
            };
            let mut types = arguments.args.iter().filter_map(|argument| match argument {
                syn::GenericArgument::Type(ty) => Some(ty),
                _ => None,
            });
            if segment.ident == "Json" { types.next().cloned() } else { types.find_map(json_payload) }
        }
        _ => None,
    }
}

/// Calls that fail to compile on the user's token when an argument is not
/// an extractor or the return value is not a response.
fn type_checks(private: &TokenStream, arguments: &[&Type], output: &ReturnType) -> TokenStream {
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
            quote!(#private::PathParam { name: #param, is_id: #is_id })
        });
        let json_body = endpoint.json_body;
        quote! {
            static #name: #private::EndpointSpec = #private::EndpointSpec {
                method: #private::EndpointMethod::#method,
                path: #path,
                access: #access,
                function: #function,
                summary: #summary,
                doc: #doc,
                params: &[#(#params),*],
                json_body: #json_body,
            };
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
    let checks = endpoints.iter().map(|endpoint| &endpoint.checks);
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
