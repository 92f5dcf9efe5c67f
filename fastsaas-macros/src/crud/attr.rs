//! The attribute options of `#[derive(Crud)]`, declared as darling receivers:
//! `#[crud(...)]` on the struct and its fields, and `#[scope("/path", ...)]`,
//! whose leading path is positional.

use darling::ast::NestedMeta;
use darling::util::{Flag, PathList, SpannedValue};
use darling::{FromDeriveInput, FromField, FromMeta};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr, UnOp};

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
    /// `notify`: owners are notified of changes to their objects.
    pub(crate) notify: Flag,
    /// `cache(ttl_secs = N)`: rows read by id are kept in the cache.
    pub(crate) cache: Option<SpannedValue<CacheOptions>>,
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
    /// `references = Parent` or `references(Parent, action = "..", on_delete = ..)`.
    pub(crate) references: Option<SpannedValue<References>>,
}

/// `references = Parent`, or `references(Parent, action = "attach",
/// on_delete = cascade)`: the type is positional.
pub(crate) struct References {
    pub(crate) target: syn::Path,
    pub(crate) action: Option<LitStr>,
    pub(crate) on_delete: Option<SpannedValue<OnDeleteOption>>,
    pub(crate) expand: Flag,
}

/// The named options of `references(...)`.
#[derive(FromMeta)]
struct ReferenceOptions {
    action: Option<LitStr>,
    on_delete: Option<SpannedValue<OnDeleteOption>>,
    expand: Flag,
}

const REFERENCES_EXPECTED: &str = "expected the referenced resource type: `references = Project` or `references(Project, action = \"attach\", on_delete = cascade, expand)`";

impl FromMeta for References {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Path(path) => {
                Ok(References { target: path.path.clone(), action: None, on_delete: None, expand: Flag::default() })
            }
            other => Err(darling::Error::custom(REFERENCES_EXPECTED).with_span(other)),
        }
    }

    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        match items.split_first() {
            Some((NestedMeta::Meta(syn::Meta::Path(target)), rest)) => {
                let options = ReferenceOptions::from_list(rest)?;
                let ReferenceOptions { action, on_delete, expand } = options;
                Ok(References { target: target.clone(), action, on_delete, expand })
            }
            Some((other, _)) => Err(darling::Error::custom(REFERENCES_EXPECTED).with_span(other)),
            None => Err(darling::Error::custom(REFERENCES_EXPECTED)),
        }
    }
}

/// `restrict`, `cascade` or `set_null`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDeleteOption {
    Restrict,
    Cascade,
    SetNull,
}

impl FromMeta for OnDeleteOption {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let name = match expr {
            Expr::Path(path) => path.path.get_ident().map(Ident::to_string),
            Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) => Some(name.value()),
            _ => None,
        };
        match name.as_deref() {
            Some("restrict") => Ok(OnDeleteOption::Restrict),
            Some("cascade") => Ok(OnDeleteOption::Cascade),
            Some("set_null") => Ok(OnDeleteOption::SetNull),
            _ => Err(darling::Error::custom("`on_delete` is one of `restrict` (the default), `cascade` or `set_null`")
                .with_span(expr)),
        }
    }
}

/// `cache(ttl_secs = N)`, or `cache` for a minute.
#[derive(FromMeta)]
#[darling(from_word = || Ok(CacheOptions { ttl_secs: default_cache_ttl() }))]
pub(crate) struct CacheOptions {
    #[darling(default = default_cache_ttl)]
    pub(crate) ttl_secs: SpannedValue<u64>,
}

fn default_cache_ttl() -> SpannedValue<u64> {
    SpannedValue::new(DEFAULT_CACHE_TTL_SECS, Span::call_site())
}

/// How long `cache` alone keeps a row, in seconds.
pub(crate) const DEFAULT_CACHE_TTL_SECS: u64 = 60;

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

/// `#[scope("/path", acl_admins = ["role"], acl_allow_always = ["role"])]`:
/// the path is positional, the rest a darling receiver.
pub(crate) struct Scope {
    pub(crate) path: LitStr,
    pub(crate) options: ScopeOptions,
}

/// The named options of `#[scope]`.
#[derive(Default, FromMeta)]
pub(crate) struct ScopeOptions {
    /// Roles that administer every object of the type (grant, revoke, act).
    #[darling(default)]
    pub(crate) acl_admins: RoleList,
    /// Roles whose requests no deny entry can refuse.
    #[darling(default)]
    pub(crate) acl_allow_always: RoleList,
}

/// `["role", ...]`: non-empty string literals, each error on its element.
#[derive(Default)]
pub(crate) struct RoleList(pub(crate) Vec<LitStr>);

impl FromMeta for RoleList {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let Expr::Array(array) = expr else {
            return Err(darling::Error::custom("expected a list of role names, e.g. [\"superadmin\"]").with_span(expr));
        };
        let mut errors = darling::Error::accumulator();
        let names = array
            .elems
            .iter()
            .filter_map(|elem| {
                errors.handle(match elem {
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) if !name.value().trim().is_empty() => {
                        Ok(name.clone())
                    }
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) => {
                        Err(darling::Error::custom("a role name cannot be empty").with_span(name))
                    }
                    other => Err(darling::Error::custom("expected a role name as a string, e.g. \"superadmin\"")
                        .with_span(other)),
                })
            })
            .collect();
        errors.finish_with(RoleList(names))
    }
}

impl Scope {
    /// Parses `#[scope(...)]`, collecting every error.
    pub(crate) fn from_attribute(attr: &syn::Attribute) -> darling::Result<Self> {
        let expected = "expected the scope path first, as a string: #[scope(\"/items\")]";
        let list = attr.meta.require_list().map_err(|_| darling::Error::custom(expected).with_span(attr))?;
        let items = NestedMeta::parse_meta_list(list.tokens.clone())?;
        let (path, rest) = match items.split_first() {
            Some((NestedMeta::Lit(Lit::Str(path)), rest)) => (path.clone(), rest),
            Some((other, _)) => return Err(darling::Error::custom(expected).with_span(other)),
            None => return Err(darling::Error::custom(expected).with_span(attr)),
        };
        Ok(Scope { path, options: ScopeOptions::from_list(rest)? })
    }
}
