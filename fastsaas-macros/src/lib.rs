//! The macros of FastSaaS. Use them through the `fastsaas` crate, which
//! re-exports them. Every attribute is documented here, on the macro that
//! reads it, so that rustdoc and an editor's hover both show it; the
//! examples run against `fastsaas` (a dev-dependency).
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

/// Turns a plain struct into a FastSaaS resource: a table, REST routes,
/// validation and OpenAPI schemas.
///
/// # On the struct
///
/// | attribute | meaning |
/// | --- | --- |
/// | `#[scope("/path")]` | required: the routes live under `/path`. A path starts with `/`, does not end with one, and its segments take letters, digits, `-`, `_`, `.`, `~`. |
/// | `#[scope(.., acl_admins = ["role"])]` | roles that administer the type (enforced by access control) |
/// | `#[scope(.., acl_allow_always = ["role"])]` | roles allowed every action on the type |
/// | `#[crud(ops(create, read, update, delete, list, clear))]` | the enabled operations (default: all six); a disabled one answers 405 |
/// | `#[crud(table = "name")]` | the table (default: the snake_case plural of the resource name, `Item` → `items`) |
/// | `#[crud(name = "Agent")]` | the stable name ACL entries (`"Agent.read"`), API keys, templates (`AgentTemplate`), schemas and the default table are kept under (default: the type name): set it before renaming the Rust type, and nothing is orphaned |
/// | `#[crud(authenticated)]` | objects can hold API keys (`POST /{scope}/{id}/keys`, shown once, stored hashed) and act as principals with `Authorization: Bearer <key>` |
/// | `#[crud(templated)]` | objects can be cloned from templates (`{scope}/templates`, see the guide's chapter on templates, docs/guide/04-templates.md); records gain `template_id` |
/// | `#[crud(notify)]` | the owner of an object (or the admins of the organization that owns it) gets a notification (`Agent.created`, `Agent.updated`, `Agent.deleted`; payload `{type, id, change, by}`) written in the change's own transaction, live on `/ws` |
/// | `#[crud(cache(ttl_secs = N))]` | `GET /{scope}/{id}` serves the row from an in-process cache (`#[crud(cache)]`: a minute), authorization still decided on every read; every write through the app invalidates it at once on every replica (see the guide's caching chapter) |
/// | `#[crud(crate = "path")]` | where the `fastsaas` crate is, if renamed or re-exported |
///
/// The derive adds the columns `id` (UUID primary key), `owner_id`, `created_at`
/// and `updated_at` (and `template_id` when templated); fields cannot take
/// those names, nor can tables start with `fastsaas_`.
///
/// # On fields
///
/// Options go in `#[crud(...)]` on the field, several in one attribute or
/// spread over several; each is checked against the field's type at compile
/// time (`validate(length)` on a number is an error on the option).
///
/// | attribute | meaning |
/// | --- | --- |
/// | `validate(length(min = 1, max = 100))` | characters of a string, items of a list or map |
/// | `validate(range(min = 0, max = 10))` | the value of an `i32`, `i64` or `f64` |
/// | `validate(email)` | an e-mail address |
/// | `validate(pattern = "[a-z]+")` | the whole string matches the regular expression (checked at compile time) |
/// | `read_only` | returned, never accepted; needs `default = ...` or an `Option` type |
/// | `write_only` | accepted, never returned (secrets); a PUT that leaves it out keeps the stored value (`null` clears an optional one), since a client can never send back what it cannot read |
/// | `hidden` | neither accepted nor returned; needs `default = ...` or an `Option` type |
/// | `encrypted` | on a `write_only` or `hidden` text field: stored encrypted (AES-256-GCM, bound to its row and field) under the keys of `FASTSAAS_FIELD_KEYS`; the app's code (`Record<T>`, `ctx.records`) reads plain text. Not with `unique`, `filter`, `sort` or `index`: equal values are different ciphertexts |
/// | `default = expr` | the value when the server sets the field, or when a create leaves a writable field out |
/// | `unique` | the database keeps values unique across the whole table; a clash answers 409 naming the field. It tells a tenant that *some* object, maybe another tenant's, has that value: use it for values that are global by nature (a public handle), not for a tenant's own data |
/// | `unique(per_owner)` | the database keeps values unique among the objects of one owner (a user or an organization); another tenant's objects never clash, so a 409 discloses nothing |
/// | `index` | the database indexes the column |
/// | `filter` | lists accept `?field=value` |
/// | `sort` | lists accept `?sort=field` and `?sort=-field` |
///
/// # Field types
///
/// `String`, `bool`, `i32`, `i64`, `f64`, `Uuid`, `DateTime<Utc>`,
/// `serde_json::Value`, `Vec<T>`, `HashMap<String, T>` and `BTreeMap<String, T>`
/// (stored as JSON), enums with `#[derive(CrudEnum)]`, and `Option` of each.
/// [`prelude`](https://docs.rs/fastsaas/latest/fastsaas/prelude/index.html) brings `serde_json`, `Uuid`, `DateTime` and `Utc`, so
/// your crate needs no dependency for them.
///
/// # Example
///
/// ```
/// use fastsaas::prelude::*;
///
/// /// A thing users keep.
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/items", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
/// #[crud(ops(create, read, update, delete, list, clear), table = "items")]
/// pub struct Item {
///     #[crud(validate(length(min = 1, max = 100)), filter, sort, unique)]
///     pub name: String,
///     pub config: serde_json::Value,
///     #[crud(read_only, default = "idle")]
///     pub status: String,
///     #[crud(write_only)]
///     pub secret: Option<String>,
/// }
///
/// assert_eq!(<Item as Resource>::SPEC.table, "items");
/// ```
#[proc_macro_derive(Crud, attributes(crud, scope))]
pub fn derive_crud(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as syn::DeriveInput);
    finish("derive(Crud)", crud::crud(&input))
}

/// Makes an enum of unit variants a field type, stored and sent as its
/// serialized name (`serde`'s `rename_all` and `rename` are honoured).
///
/// ```
/// use fastsaas::prelude::*;
///
/// #[derive(CrudEnum, Clone, Debug, Serialize, Deserialize)]
/// #[serde(rename_all = "snake_case")]
/// pub enum Status {
///     Idle,
///     Busy,
/// }
///
/// assert_eq!(<Status as fastsaas::field::StringEnum>::VARIANTS, ["idle", "busy"]);
/// ```
#[proc_macro_derive(CrudEnum, attributes(crud))]
pub fn derive_crud_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as syn::DeriveInput);
    finish("derive(CrudEnum)", crud_enum::crud_enum(&input))
}

/// Mounts the `#[endpoint(...)]` methods of an `impl` block of a resource
/// under its scope, when the resource is registered with
/// [`App::resource`](https://docs.rs/fastsaas/latest/fastsaas/struct.App.html#method.resource) — no second registration.
///
/// `#[endpoints]` takes one option: `#[endpoints(crate = "path")]`, where the
/// `fastsaas` crate is if it is renamed or re-exported (as
/// `#[crud(crate = "path")]`). Methods without `#[endpoint]` stay plain
/// methods. Mistakes are compile errors on the offending token: a
/// non-`async` fn, a method taking `self`, an unknown method, a path without
/// a leading `/`, a path parameter no argument takes, a route the framework
/// already serves, two access options on one endpoint.
///
/// `#[endpoint(method, "/path", action = "name")]`: `method` is `get`,
/// `post`, `put`, `patch` or `delete`; the path starts with `/` and the
/// object's id in it is `{id}`. The framework checks who may call the
/// route **before the handler runs**, whatever the handler takes:
///
/// - `action = "name"` (default: `read` for `get`, `update` otherwise): on
///   a path with `{id}`, the caller needs the action on that object (404 if
///   it may not read it, 403 if it may read but not act), and the loaded
///   object reaches an [`Authorized<T>`](https://docs.rs/fastsaas/latest/fastsaas/struct.Authorized.html) argument without a second query; on
///   a path without `{id}`, it needs the action type-wide (403). Custom
///   actions are granted and denied by ACL entries like the built-in ones.
/// - `signed_in`: anyone with valid credentials (401 otherwise).
/// - `public`: anyone, with or without credentials.
///
/// Handlers are `async fn`s taking axum extractors and the framework's
/// ([`Ctx`](https://docs.rs/fastsaas/latest/fastsaas/struct.Ctx.html), [`Principal`](https://docs.rs/fastsaas/latest/fastsaas/struct.Principal.html), [`Authorized<T>`](https://docs.rs/fastsaas/latest/fastsaas/struct.Authorized.html), [`Json<T>`](https://docs.rs/fastsaas/latest/fastsaas/struct.Json.html) for a body with
/// the framework's error rules) and returning anything that implements
/// `IntoResponse`. Each appears in `/openapi.json` with its path
/// parameters, its JSON body if it takes one, who may call it, and its doc
/// comment.
///
/// ```
/// use fastsaas::prelude::*;
///
/// #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
/// #[scope("/agents")]
/// pub struct Agent {
///     pub name: String,
///     #[crud(read_only, default = "idle")]
///     pub status: String,
/// }
///
/// #[derive(Serialize)]
/// pub struct AgentStatus {
///     status: String,
/// }
///
/// #[endpoints]
/// impl Agent {
///     /// The agent's status.
///     #[endpoint(get, "/{id}/status")]
///     async fn status(agent: Authorized<Agent>) -> Json<AgentStatus> {
///         Json(AgentStatus { status: agent.data.status.clone() })
///     }
///
///     /// Wakes the agent up (needs the `wake` permission).
///     #[endpoint(post, "/{id}/wake", action = "wake")]
///     async fn wake(agent: Authorized<Agent>) -> ApiResult<Json<AgentStatus>> {
///         Ok(Json(AgentStatus { status: format!("{} is awake", agent.name) }))
///     }
///
///     /// The service's version, for anyone.
///     #[endpoint(get, "/version", public)]
///     async fn version() -> &'static str {
///         "1"
///     }
/// }
///
/// let app = App::new(Default::default()).resource::<Agent>();
/// ```
#[proc_macro_attribute]
pub fn endpoints(attr: TokenStream, item: TokenStream) -> TokenStream {
    let block = parse_macro_input!(item as syn::ItemImpl);
    finish("endpoints", endpoints::endpoints(attr.into(), block))
}

/// Marks a method of an [`endpoints`](macro@endpoints) block as a route:
/// `#[endpoint(method, "/path", options)]`.
///
/// | part | meaning |
/// | --- | --- |
/// | `method` | `get`, `post`, `put`, `patch` or `delete` |
/// | `"/path"` | under the resource's scope; starts with `/`; `{id}` is the object's id, any other `{name}` a parameter that a `Path` argument takes |
/// | `action = "name"` | the ACL action checked before the handler runs (default: `read` for `get`, `update` otherwise): on the object of an `{id}` path (404 if the caller may not read it, 403 if it may read but not act), type-wide on a path without `{id}` (403) |
/// | `signed_in` | instead of an action: anyone with valid credentials (401 otherwise) |
/// | `public` | instead of an action: anyone, with or without credentials |
///
/// The method's doc comment becomes the operation's OpenAPI summary (its
/// first paragraph) and description. Used outside an [`endpoints`](macro@endpoints) block,
/// it is a compile error. See [`endpoints`](macro@endpoints) for an example.
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
