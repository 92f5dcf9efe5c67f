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
#[non_exhaustive]
pub struct PathParam {
    /// Its name, as in `{name}`.
    pub name: &'static str,
    /// Whether it is an object id (a UUID): `{id}`.
    pub is_id: bool,
}

/// Who may call a custom endpoint, checked by the framework before its
/// handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointAccess {
    /// Callers allowed this ACL action: on the object of the path when it
    /// has an `{id}` (404 if the caller may not read it, 403 if it may read
    /// but not act), else type-wide (403). The default: `read` for `GET`,
    /// `update` otherwise.
    Action(&'static str),
    /// Anyone with valid credentials (`#[endpoint(..., signed_in)]`); 401
    /// otherwise.
    SignedIn,
    /// Anyone at all, with or without credentials (`#[endpoint(..., public)]`).
    Public,
}

/// One `#[endpoint(...)]` method of an `#[endpoints]` block, as data.
/// Built with [`EndpointSpec::new`] and the `with_*` methods, in `const`
/// context.
#[derive(Debug)]
#[non_exhaustive]
pub struct EndpointSpec {
    /// The method.
    pub method: EndpointMethod,
    /// The path under the resource's scope, e.g. `"/{id}/status"`.
    pub path: &'static str,
    /// Who may call it.
    pub access: EndpointAccess,
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
}

impl PathParam {
    /// The parameter `{name}`; `is_id` when it is the object's `{id}`.
    pub const fn new(name: &'static str, is_id: bool) -> PathParam {
        PathParam { name, is_id }
    }
}

impl EndpointSpec {
    /// The endpoint `function`, answering `method` on `path` for callers
    /// `access` lets in, with no doc, no path parameter and no body.
    pub const fn new(
        method: EndpointMethod,
        path: &'static str,
        access: EndpointAccess,
        function: &'static str,
    ) -> EndpointSpec {
        EndpointSpec { method, path, access, function, summary: "", doc: "", params: &[], json_body: false }
    }

    /// The endpoint with its doc comment and that comment's first paragraph.
    pub const fn with_doc(mut self, summary: &'static str, doc: &'static str) -> EndpointSpec {
        self.summary = summary;
        self.doc = doc;
        self
    }

    /// The endpoint with its path's [`params`](EndpointSpec::params).
    pub const fn with_params(mut self, params: &'static [PathParam]) -> EndpointSpec {
        self.params = params;
        self
    }

    /// The endpoint, reading a JSON body.
    pub const fn with_json_body(mut self) -> EndpointSpec {
        self.json_body = true;
        self
    }

    /// The ACL action the route checks, if it checks one.
    pub const fn action(&self) -> Option<&'static str> {
        match self.access {
            EndpointAccess::Action(action) => Some(action),
            EndpointAccess::SignedIn | EndpointAccess::Public => None,
        }
    }

    /// Whether the path names an object (`{id}`), whose check it then is.
    pub fn has_object(&self) -> bool {
        self.params.iter().any(|param| param.is_id)
    }

    /// Whether a caller needs credentials.
    pub const fn needs_credentials(&self) -> bool {
        !matches!(self.access, EndpointAccess::Public)
    }
}
