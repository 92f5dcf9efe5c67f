//! The checks of an `#[endpoints]` block: each `#[endpoint]` method's
//! attribute, signature and path, and the routes of all of them together
//! (every error at once, each on its token).

use std::collections::BTreeMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Type};

use fastsaas_core::resource::{OPERATION_ROUTES, SCOPE_PREFIXES};

use super::attr::EndpointAttr;
use super::model::{Access, Endpoint};
use crate::text::doc_text;

/// The methods an endpoint may answer.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Collects errors so that every problem is reported at once.
#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

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

/// Checks every method of `block`, taking the `#[endpoint]` markers off
/// the methods (the block is emitted without them, errors or not).
pub(crate) fn block(block: &mut ItemImpl) -> syn::Result<Vec<Endpoint>> {
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
            match EndpointAttr::from_attribute(marker) {
                Ok(parsed) => endpoints.extend(endpoint(function, parsed, &mut errors)),
                Err(err) => errors.0.push(err.into()),
            }
        }
    }
    check_routes(&endpoints, &mut errors);
    errors.finish().map(|()| endpoints)
}

/// Checks one `#[endpoint]` method.
fn endpoint(function: &ImplItemFn, attr: EndpointAttr, errors: &mut Errors) -> Option<Endpoint> {
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
    let access = access(&attr, &method, errors);
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
        request: arguments.iter().find_map(|ty| json_payload(ty)),
        response: match &signature.output {
            ReturnType::Type(_, ty) => json_payload(ty),
            ReturnType::Default => None,
        },
        arguments: arguments.into_iter().cloned().collect(),
        output: signature.output.clone(),
    })
}

/// Who may call the endpoint: one of `action = ...`, `signed_in` and
/// `public`, else the method's default action.
fn access(attr: &EndpointAttr, method: &str, errors: &mut Errors) -> Access {
    let options = &attr.options;
    let given: Vec<(Span, String, Access)> = [
        options
            .action
            .as_ref()
            .map(|action| (action.span(), format!("action = \"{}\"", action.value()), Access::Action(action.value()))),
        options.signed_in.is_present().then(|| (options.signed_in.span(), "signed_in".to_owned(), Access::SignedIn)),
        options.public.is_present().then(|| (options.public.span(), "public".to_owned(), Access::Public)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut given = given.into_iter();
    let Some((span, first, access)) = given.next() else {
        let default = if method == "get" { "read" } else { "update" };
        return Access::Action(default.to_owned());
    };
    for (span, _, _) in given {
        errors.push(span, format!("this endpoint already says who may call it (`{first}`); keep one"));
    }
    if let Access::Action(name) = &access
        && !is_action(name)
    {
        errors.push(span, "an action is lowercase letters, digits, `_`, `.` and `-`, starting with a letter or `_`");
    }
    access
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
