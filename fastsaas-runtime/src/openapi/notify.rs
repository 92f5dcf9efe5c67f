//! The schemas of the notification routes: `POST /notify`, the caller's
//! notifications, and `GET /ws`.

use fastsaas_core::FieldKind;
use utoipa::openapi::ComponentsBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};

use super::{Place, field_schema, page_schema, read_only, scalar, value_schema};
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
