//! Cross-origin requests (CORS): browser front ends on the origins of
//! `FASTSAAS_CORS_ORIGINS` may call the API; other origins get no CORS
//! headers, so browsers refuse them. tower-http answers the preflights.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::StartupError;

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// The CORS layer of `origins` (comma-separated), or `None` when it names
/// none; an entry that is not an origin (`scheme://host[:port]`, no path,
/// no `*`) stops start-up, named.
pub(crate) fn layer(origins: &str) -> Result<Option<CorsLayer>, StartupError> {
    let mut allowed = Vec::new();
    for origin in origins.split(',').map(str::trim).filter(|origin| !origin.is_empty()) {
        allowed.push(origin_value(origin).ok_or_else(|| {
            StartupError::Config(format!(
                "FASTSAAS_CORS_ORIGINS: `{origin}` is not an origin: write `https://app.example.com` or \
                 `http://localhost:5173` (a scheme, a host and maybe a port; no path, no `*`)"
            ))
        })?);
    }
    if allowed.is_empty() {
        return Ok(None);
    }
    let request_id = HeaderName::from_static("x-request-id");
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, request_id.clone()])
            .expose_headers([header::LOCATION, header::RETRY_AFTER, header::ALLOW, request_id])
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

/// `origin` as a header value, if it is one: `http` or `https`, a host, an
/// optional port, nothing else.
fn origin_value(origin: &str) -> Option<HeaderValue> {
    let (scheme, host) = origin.split_once("://")?;
    let fits = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    fits.then(|| HeaderValue::from_str(origin).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::{layer, origin_value};

    #[test]
    fn only_origins_are_taken() {
        assert!(origin_value("https://app.example.com").is_some());
        assert!(origin_value("http://localhost:5173").is_some());
        assert!(origin_value("http://[::1]:8080").is_some());
        for bad in ["*", "app.example.com", "https://app.example.com/", "ftp://x", "https://a b", "https://"] {
            assert!(origin_value(bad).is_none(), "{bad}");
        }
        assert!(layer("").is_ok_and(|layer| layer.is_none()));
        assert!(layer(" https://a.example , http://b.example:81 ").is_ok_and(|layer| layer.is_some()));
        assert!(layer("https://a.example, *").is_err_and(|err| err.to_string().contains("`*`")));
    }
}
