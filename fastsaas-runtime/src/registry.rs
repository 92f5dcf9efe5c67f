//! The registry: which resource types the app serves, and the custom
//! actions of each, so that ACL entries name only actions that exist.

use std::collections::HashMap;

use fastsaas_core::acl::actions_of;
use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, ResourceSpec};

use crate::expand::Loader;

/// The registered resource types and their custom actions.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    resources: Vec<&'static ResourceSpec>,
    /// The custom actions of each type, by type name.
    custom_actions: HashMap<&'static str, Vec<&'static str>>,
    /// What reads each type's records for `?expand=`, by type name.
    loaders: HashMap<&'static str, Loader>,
}

impl Registry {
    /// A registry of `resources`, with the custom actions of each type.
    pub(crate) fn new(
        resources: Vec<&'static ResourceSpec>,
        custom_actions: HashMap<&'static str, Vec<&'static str>>,
        loaders: HashMap<&'static str, Loader>,
    ) -> Registry {
        Registry { resources, custom_actions, loaders }
    }

    /// What reads each type's records for `?expand=`, by type name.
    pub(crate) fn loaders(&self) -> &HashMap<&'static str, Loader> {
        &self.loaders
    }

    /// The descriptions of the registered resources (and of their templates).
    pub(crate) fn specs(&self) -> &[&'static ResourceSpec] {
        &self.resources
    }

    /// The registered resource named `name` (its stable name).
    pub(crate) fn spec(&self, name: &str) -> Option<&'static ResourceSpec> {
        self.resources.iter().copied().find(|spec| spec.name == name)
    }

    /// Why ACL entries of the type `spec` may not name `action`, if they
    /// may not: it is not a checked operation, one of the type's custom
    /// actions, or `*`. The message lists the actions the type has.
    pub(crate) fn unknown_action(&self, spec: &ResourceSpec, action: &str) -> Option<String> {
        let custom = self.custom_actions.get(spec.name).map(Vec::as_slice).unwrap_or_default();
        let known = actions_of(custom);
        if known.contains(&action) {
            return None;
        }
        let known = known.join(", ");
        Some(match action {
            "list" => {
                format!("a list shows what the caller may `read`: grant `read` instead; {} has {known}", spec.name)
            }
            "clear" => format!(
                "a clear deletes what the caller may `delete`: grant `delete` instead; {} has {known}",
                spec.name
            ),
            _ => format!("{} has no action `{action}`; it has {known}", spec.name),
        })
    }

    /// The 400 naming `field` when `action` is unknown to `spec`'s type.
    pub(crate) fn check_action(&self, spec: &ResourceSpec, field: &str, action: &str) -> ApiResult<()> {
        match self.unknown_action(spec, action) {
            Some(message) => Err(ApiError::field(field, FieldErrorCode::Invalid, message)),
            None => Ok(()),
        }
    }
}
