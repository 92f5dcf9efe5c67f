//! `GET /docs`: Swagger UI over `/openapi.json`, every asset served by the
//! app itself from the binary, and no request to any other host (the
//! online validator is off).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{OriginalUri, Path};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fastsaas_core::ApiError;
use http::header;
use utoipa_swagger_ui::Config;

/// What the page loads: the document next to `/docs`, relative so that an
/// app nested under a prefix works too.
static CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new(["../openapi.json"]).validator_url("none").try_it_out_enabled(true)));

/// `GET /docs`: the page. Its assets are linked relatively, so it is
/// served at `/docs/` and `/docs` redirects there.
pub(crate) async fn page(OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().ends_with('/') {
        asset(Path("index.html".to_owned())).await
    } else {
        Redirect::permanent(&format!("{}/", uri.path())).into_response()
    }
}

/// The router of the page's assets, `/docs/{file}`: not in the route table
/// (a catch-all has no trailing-slash twin) nor in the document.
pub(crate) fn assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/docs/{*file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, Arc::clone(&CONFIG)) {
        Ok(Some(found)) => ([(header::CONTENT_TYPE, found.content_type)], found.bytes.into_owned()).into_response(),
        Ok(None) => ApiError::NotFound("route".into()).into_response(),
        Err(err) => {
            tracing::error!(error = %err, file, "Swagger UI asset could not be prepared");
            ApiError::Internal.into_response()
        }
    }
}
