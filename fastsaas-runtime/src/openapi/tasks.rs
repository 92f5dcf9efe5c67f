//! The schema of a task (`GET /tasks/{id}`, and the tasks of an object).

use fastsaas_core::FieldKind;
use utoipa::openapi::ComponentsBuilder;
use utoipa::openapi::schema::ObjectBuilder;

use super::{field_schema, scalar};

/// Adds the task schema.
pub(super) fn components(components: ComponentsBuilder) -> ComponentsBuilder {
    let nullable_json = ObjectBuilder::new().description(Some("What the successful attempt returned; null until then"));
    let task = ObjectBuilder::new()
        .description(Some("A background task"))
        .property("id", scalar(FieldKind::Uuid))
        .property("kind", scalar(FieldKind::Text))
        .property("status", scalar(FieldKind::Enum(&["queued", "running", "succeeded", "failed"])))
        .property("attempts", scalar(FieldKind::Int64))
        .property("result", nullable_json)
        .property("error", field_schema(FieldKind::Text, true).description(Some("The last failure, if any")))
        .property("created_at", scalar(FieldKind::DateTime))
        .property("updated_at", scalar(FieldKind::DateTime));
    let required = ["id", "kind", "status", "attempts", "result", "error", "created_at", "updated_at"];
    components.schema("Task", required.into_iter().fold(task, ObjectBuilder::required))
}
