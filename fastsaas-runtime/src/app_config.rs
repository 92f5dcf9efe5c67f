//! The app's own settings (`Settings::app`), read into a type of the app's
//! at start-up, with an error that names the key and where it came from.

use std::any::Any;
use std::sync::Arc;

use fastsaas_core::settings::APP_PREFIX;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The app's settings, read.
pub(crate) type AppConfig = Arc<dyn Any + Send + Sync>;

/// Reads the app's settings into its type.
pub(crate) type Reader = Arc<dyn Fn(&Map<String, Value>) -> Result<AppConfig, String> + Send + Sync>;

/// The reader of `T`.
pub(crate) fn reader<T: DeserializeOwned + Send + Sync + 'static>() -> Reader {
    Arc::new(|section: &Map<String, Value>| {
        let value = Value::Object(section.clone());
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(config) => Ok(Arc::new(config) as AppConfig),
            Err(err) => Err(explain(&err.path().to_string(), &without_value(&err.inner().to_string()))),
        }
    })
}

/// serde's message without the value it found, which may be a secret:
/// `invalid type: string "sk_live_…", expected u32` becomes
/// `invalid type, expected u32`.
fn without_value(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if let Some(rest) = message.strip_prefix(kind).and_then(|rest| rest.strip_prefix(':'))
            && let Some((_, expected)) = rest.split_once(", expected ")
        {
            return format!("{kind}, expected {expected}");
        }
    }
    message.to_owned()
}

/// `error` at `path` of the app's settings, with where a value there came
/// from (or could come from, when it is missing).
fn explain(path: &str, error: &str) -> String {
    let key = if path == "." { "app".to_owned() } else { format!("app.{path}") };
    let variable = format!("{APP_PREFIX}{}", path.to_uppercase().replace('.', "__"));
    let source = if path != "." && std::env::var_os(&variable).is_some() {
        format!("from the environment variable {variable}")
    } else {
        format!("set it in the `[app]` table of fastsaas.toml or as {APP_PREFIX}<KEY>")
    };
    format!("the app's settings: `{key}`: {error} ({source})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mail {
        #[allow(dead_code, reason = "read by the deserializer only")]
        smtp: Smtp,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Smtp {
        #[allow(dead_code, reason = "read by the deserializer only")]
        port: u16,
    }

    fn read(section: Value) -> Result<AppConfig, String> {
        let Value::Object(section) = section else { return Err("not an object".into()) };
        reader::<Mail>()(&section)
    }

    #[test]
    fn an_error_names_the_key_of_the_app_section() {
        let wrong = read(serde_json::json!({"smtp": {"port": "twenty-five"}})).err().unwrap_or_default();
        assert!(wrong.starts_with("the app's settings: `app.smtp.port`: invalid type, expected u16"), "{wrong}");
        assert!(!wrong.contains("twenty-five"), "the value may be a secret: {wrong}");
        let missing = read(serde_json::json!({})).err().unwrap_or_default();
        assert!(missing.contains("missing field `smtp`") && missing.contains("`[app]` table"), "{missing}");
        let unknown = read(serde_json::json!({"smtp": {"port": 25}, "smpt": 1})).err().unwrap_or_default();
        assert!(unknown.contains("unknown field `smpt`"), "{unknown}");
        assert!(read(serde_json::json!({"smtp": {"port": 25}})).is_ok());
    }
}
