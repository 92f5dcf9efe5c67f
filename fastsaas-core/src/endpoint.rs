//! The static description of a custom endpoint that `#[endpoints]` emits.

/// The HTTP method of a custom endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl EndpointMethod {
    /// The method's name, upper case.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointMethod::Get => "GET",
            EndpointMethod::Post => "POST",
            EndpointMethod::Put => "PUT",
            EndpointMethod::Patch => "PATCH",
            EndpointMethod::Delete => "DELETE",
        }
    }
}

/// A path parameter of a custom endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathParam {
    /// Its name, as in `{name}`.
    pub name: &'static str,
    /// Whether it is an object id (a UUID): `{id}`.
    pub is_id: bool,
}

/// One `#[endpoint(...)]` method of an `#[endpoints]` block, as data.
#[derive(Debug)]
pub struct EndpointSpec {
    /// The method.
    pub method: EndpointMethod,
    /// The path under the resource's scope, e.g. `"/{id}/status"`.
    pub path: &'static str,
    /// The ACL action checked by `Authorized<T>` on this route.
    pub action: &'static str,
    /// The Rust function's name (the OpenAPI operation id's stem).
    pub function: &'static str,
    /// The doc comment's first paragraph (the OpenAPI summary).
    pub summary: &'static str,
    /// The whole doc comment (the OpenAPI description).
    pub doc: &'static str,
    /// The path's parameters, in order.
    pub params: &'static [PathParam],
    /// Whether the handler reads a JSON body (`Json<T>`).
    pub json_body: bool,
    /// Whether the handler needs credentials (`Authorized`, `Principal`, `Ctx`).
    pub authenticated: bool,
}
