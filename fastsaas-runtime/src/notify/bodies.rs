//! The notifications' records and the body of `POST /notify`, described in
//! the terms of a resource's fields, so that they are read, checked, listed
//! and documented by the same code as every other body and list.

use fastsaas_core::{Access, FieldKind, FieldSpec, OperationSet, ResourceSpec, Rule};

use crate::body::BodySpec;

/// A notification's kind: a short name clients dispatch on.
pub(crate) const KIND: FieldSpec = FieldSpec::new("kind", FieldKind::Text)
    .with_rules(&[Rule::Length { min: Some(1), max: Some(64) }, Rule::Pattern("[A-Za-z0-9_.:-]+")])
    .with_doc("What the notification is about, for clients to dispatch on (`message` when sent without one; `resync` is the server's own)");
/// A notification's text.
pub(crate) const MESSAGE: FieldSpec = FieldSpec::new("message", FieldKind::Text)
    .with_rules(&[Rule::Length { min: Some(1), max: Some(2000) }])
    .with_doc("The text shown to the recipient");

static NOTIFICATION_FIELDS: [FieldSpec; 5] = [
    KIND.with_filter(),
    MESSAGE,
    FieldSpec::new("payload", FieldKind::Json).with_doc("Data for the client; `{}` when sent without"),
    FieldSpec::new("seq", FieldKind::Int64)
        .with_access(Access::ReadOnly)
        .with_sort()
        .with_doc("The recipient's own number of this notification: 1, 2, 3… in the order they were committed"),
    FieldSpec::new("read_at", FieldKind::DateTime)
        .with_access(Access::ReadOnly)
        .with_nullable(true)
        .with_doc("When it was marked read; null while unread"),
];

/// The caller's notifications, described like a resource for its list.
pub(crate) static NOTIFICATIONS: ResourceSpec =
    ResourceSpec::new("Notification", "/notifications", "fastsaas_notifications")
        .with_ops(OperationSet::ALL)
        .with_fields(&NOTIFICATION_FIELDS)
        .with_doc("A message to one user, kept in the database and delivered live on `/ws`.");

static NOTIFY_FIELDS: [FieldSpec; 4] = [
    FieldSpec::new("user_id", FieldKind::Uuid).with_doc("The recipient: yourself, or anyone for a superadmin"),
    MESSAGE,
    KIND.with_default(),
    FieldSpec::new("payload", FieldKind::Json).with_default().with_doc("Data for the client: at most 16 KiB of JSON"),
];

/// The body of `POST /notify`.
pub(crate) const NOTIFY_BODY: BodySpec = BodySpec { name: "Notify", fields: &NOTIFY_FIELDS };
