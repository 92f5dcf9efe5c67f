//! The notification routes in the OpenAPI document: `POST /notify`, the
//! caller's notifications, and `GET /ws`.

use fastsaas_core::FieldKind;
use utoipa::openapi::ComponentsBuilder;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};

use super::{IdentityDoc, Place, field_schema, identity_operation, page_schema, read_only, scalar, value_schema};
use crate::notify::bodies::{NOTIFICATIONS, NOTIFY_BODY};

/// Adds the notifications' schemas.
pub(super) fn components(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut notification = ObjectBuilder::new()
        .description(Some(NOTIFICATIONS.doc))
        .property("id", read_only(field_schema(FieldKind::Uuid, false)))
        .required("id");
    for field in NOTIFICATIONS.fields {
        notification = notification.property(field.name, value_schema(field, Place::Record)).required(field.name);
    }
    notification =
        notification.property("created_at", read_only(field_schema(FieldKind::DateTime, false))).required("created_at");
    let mut notify = ObjectBuilder::new().additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for field in NOTIFY_BODY.fields {
        notify = notify.property(field.name, value_schema(field, Place::Body));
        if !field.has_default {
            notify = notify.required(field.name);
        }
    }
    components
        .schema("Notification", notification)
        .schema("NotificationPage", page_schema(&NOTIFICATIONS))
        .schema("Notify", notify)
        .schema("NotificationRef", ObjectBuilder::new().property("id", scalar(FieldKind::Uuid)).required("id"))
}

/// The operation of a notification route: an identity route's, tagged
/// `Notifications`, with `extra` query parameters.
pub(crate) fn notify_operation(doc: IdentityDoc<'_>, extra: Vec<Parameter>) -> Operation {
    let mut operation = identity_operation(doc);
    operation.tags = Some(vec!["Notifications".to_owned()]);
    if !extra.is_empty() {
        operation.parameters.get_or_insert_with(Vec::new).extend(extra);
    }
    operation
}

/// An optional query parameter.
pub(crate) fn query_parameter(name: &str, kind: FieldKind, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(scalar(kind)))
        .build()
}
