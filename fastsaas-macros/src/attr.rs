//! The attribute options, declared as darling receivers (`#[crud(...)]`) or
//! parsed with syn where darling's shapes do not fit (`#[scope("/path", ...)]`).

use darling::util::{Flag, PathList, SpannedValue};
use darling::{FromDeriveInput, FromField, FromMeta};
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, Ident, Lit, LitStr, Token, UnOp};

/// `#[crud(...)]` on the struct, plus the struct itself.
#[derive(FromDeriveInput)]
#[darling(attributes(crud), supports(struct_named), forward_attrs(doc, scope))]
pub(crate) struct CrudInput {
    pub(crate) ident: Ident,
    pub(crate) generics: syn::Generics,
    pub(crate) data: darling::ast::Data<(), CrudField>,
    pub(crate) attrs: Vec<syn::Attribute>,
    /// `ops(create, read, ...)`
    pub(crate) ops: Option<SpannedValue<PathList>>,
    /// `table = "name"`
    pub(crate) table: Option<SpannedValue<String>>,
    /// `name = "Agent"`: the stable name ACL entries, keys and templates are
    /// stored under (default: the type's name).
    pub(crate) name: Option<SpannedValue<String>>,
    /// `authenticated`: objects hold API keys and act as principals.
    pub(crate) authenticated: Flag,
    /// `templated`: named, shareable templates that new objects are cloned from.
    pub(crate) templated: Flag,
    /// `crate = "path"`: the facade's path when it is renamed or re-exported.
    #[darling(rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// `#[crud(...)]` on a field, plus the field itself.
#[derive(FromField)]
#[darling(attributes(crud), forward_attrs(doc))]
pub(crate) struct CrudField {
    pub(crate) ident: Option<Ident>,
    pub(crate) ty: syn::Type,
    pub(crate) attrs: Vec<syn::Attribute>,
    pub(crate) validate: Option<Validate>,
    pub(crate) read_only: Flag,
    pub(crate) write_only: Flag,
    pub(crate) hidden: Flag,
    pub(crate) default: Option<DefaultValue>,
    pub(crate) unique: Option<SpannedValue<UniqueOptions>>,
    pub(crate) index: Flag,
    pub(crate) filter: Flag,
    pub(crate) sort: Flag,
    pub(crate) encrypted: Flag,
}

/// `unique` (across the table) or `unique(per_owner)` (among one owner's
/// objects).
#[derive(Default, FromMeta)]
#[darling(from_word = || Ok(UniqueOptions::default()))]
pub(crate) struct UniqueOptions {
    pub(crate) per_owner: Flag,
}

/// `validate(length(...), range(...), email, pattern = "...")`
#[derive(Default, FromMeta)]
pub(crate) struct Validate {
    pub(crate) length: Option<SpannedValue<Bounds>>,
    pub(crate) range: Option<SpannedValue<Bounds>>,
    pub(crate) email: Flag,
    pub(crate) pattern: Option<SpannedValue<String>>,
}

/// `min = .., max = ..`, each a number literal.
#[derive(FromMeta)]
pub(crate) struct Bounds {
    pub(crate) min: Option<Number>,
    pub(crate) max: Option<Number>,
}

/// A number literal, possibly negative, with its span.
#[derive(Clone, Copy)]
pub(crate) struct Number {
    pub(crate) value: f64,
    pub(crate) is_integer: bool,
    pub(crate) span: Span,
}

impl FromMeta for Number {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let (negative, literal) = match expr {
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => (true, &*unary.expr),
            other => (false, other),
        };
        let parsed = match literal {
            Expr::Lit(syn::ExprLit { lit: Lit::Int(int), .. }) => int.base10_parse::<f64>().map(|v| (v, true)),
            Expr::Lit(syn::ExprLit { lit: Lit::Float(float), .. }) => float.base10_parse::<f64>().map(|v| (v, false)),
            _ => return Err(darling::Error::custom("expected a number").with_span(expr)),
        };
        let (value, is_integer) = parsed.map_err(|err| darling::Error::custom(err).with_span(expr))?;
        Ok(Number { value: if negative { -value } else { value }, is_integer, span: expr.span() })
    }
}

/// `default = <expression>`: taken as written (a string literal stays one).
pub(crate) struct DefaultValue(pub(crate) Expr);

impl FromMeta for DefaultValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        Ok(DefaultValue(expr.clone()))
    }
}

/// `#[scope("/path", acl_admins = ["role"], acl_allow_always = ["role"])]`
pub(crate) struct Scope {
    pub(crate) path: LitStr,
    pub(crate) acl_admins: Vec<LitStr>,
    pub(crate) acl_allow_always: Vec<LitStr>,
}

impl Parse for Scope {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path: LitStr = input.parse().map_err(|err| {
            syn::Error::new(err.span(), "expected the scope path first, as a string: #[scope(\"/items\")]")
        })?;
        let mut scope = Scope { path, acl_admins: Vec::new(), acl_allow_always: Vec::new() };
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let list: ExprArray = input.parse()?;
            let name = key.to_string();
            if seen.contains(&name) {
                return Err(syn::Error::new(key.span(), format!("duplicate `{name}` in #[scope]")));
            }
            let target = match name.as_str() {
                "acl_admins" => &mut scope.acl_admins,
                "acl_allow_always" => &mut scope.acl_allow_always,
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown #[scope] option `{name}`; expected `acl_admins` or `acl_allow_always`"),
                    ));
                }
            };
            *target = role_names(&list.elems)?;
            seen.push(name);
        }
        Ok(scope)
    }
}

/// The role names of an `acl_*` list: non-empty string literals.
fn role_names(elems: &Punctuated<Expr, Token![,]>) -> syn::Result<Vec<LitStr>> {
    elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) if !name.value().trim().is_empty() => Ok(name.clone()),
            Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) => {
                Err(syn::Error::new(name.span(), "a role name cannot be empty"))
            }
            other => Err(syn::Error::new(other.span(), "expected a role name as a string, e.g. \"superadmin\"")),
        })
        .collect()
}
