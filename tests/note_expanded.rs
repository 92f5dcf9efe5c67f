//! What `#[derive(Crud)]` means, written by hand: `NoteByHand` is the
//! resource the derive makes of `Note` below, spelled out as a reader would
//! write it (the derive's own output, with `FASTSAAS_MACROS_DEBUG=1`, says
//! the same with fully qualified paths). The test serves both and checks
//! they answer alike, so this twin keeps compiling and keeps meaning what
//! the derive means.
//!
//! ```text
//! #[derive(Crud, Clone, Debug, Serialize, Deserialize)]
//! #[scope("/notes")]
//! pub(crate) struct Note {
//!     #[crud(validate(length(min = 1, max = 20)), filter, sort)]
//!     pub title: String,
//!     #[crud(read_only, default = "draft")]
//!     pub state: String,
//!     pub body: Option<String>,
//! }
//! ```

use fastsaas::__private::{self as glue, Field, NewRow, ResourceGlue, ResourceRoutes};
use fastsaas::FieldError;
use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::spec::{Access, FieldKind, FieldSpec, Operation, OperationSet, ResourceSpec, Rule};
use fastsaas::testing::TestClient;

/// A note, derived.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notes")]
pub(crate) struct Note {
    #[crud(validate(length(min = 1, max = 20)), filter, sort)]
    pub(crate) title: String,
    #[crud(read_only, default = "draft")]
    pub(crate) state: String,
    pub(crate) body: Option<String>,
}

/// A note, by hand: the same struct, with no derive of FastSaaS.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NoteByHand {
    pub(crate) title: String,
    pub(crate) state: String,
    pub(crate) body: Option<String>,
}

/// The table: the framework's columns around the stored form of each field
/// (`<T as Field>::Stored`, here the same types). The runtime adds the
/// indexes the lists walk (`owner_id, created_at, id` and the like).
mod table {
    use fastsaas::sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "notes_by_hand")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: Uuid,
        pub(crate) owner_id: Option<Uuid>,
        pub(crate) title: String,
        pub(crate) state: String,
        pub(crate) body: Option<String>,
        pub(crate) created_at: DateTimeUtc,
        pub(crate) updated_at: DateTimeUtc,
    }

    #[derive(Clone, Copy, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use fastsaas::sea_orm::ActiveValue::{Set, Unchanged};
use table::{ActiveModel, Column, Entity, Model};

/// The body of a create and of a PUT: the writable fields (not the
/// read-only `state`), and the owner a create may ask for. Unknown members
/// are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateNote {
    #[serde(default)]
    owner_id: Option<Uuid>,
    title: String,
    body: Option<String>,
}

/// The body of a PATCH: each writable field, `None` when absent; for the
/// optional `body`, `Some(None)` is an explicit `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchNote {
    #[serde(default, deserialize_with = "glue::present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "glue::present")]
    body: Option<Option<String>>,
}

/// The fields as data: what routes, validation and OpenAPI read.
static FIELDS: [FieldSpec; 3] = [
    FieldSpec::new("title", FieldKind::Text)
        .with_filter()
        .with_sort()
        .with_rules(&[Rule::Length { min: Some(1), max: Some(20) }]),
    FieldSpec::new("state", FieldKind::Text).with_access(Access::ReadOnly).with_default(),
    FieldSpec::new("body", FieldKind::Text).with_nullable(true),
];

static SPEC: ResourceSpec = ResourceSpec::new("NoteByHand", "/handmade-notes", "notes_by_hand")
    .with_ops(
        OperationSet::EMPTY
            .with(Operation::Create)
            .with(Operation::Read)
            .with(Operation::Update)
            .with(Operation::Delete)
            .with(Operation::List)
            .with(Operation::Clear),
    )
    .with_fields(&FIELDS);

impl Resource for NoteByHand {
    type Entity = Entity;
    type Model = Model;
    type ActiveModel = ActiveModel;
    type Column = Column;
    type Create = CreateNote;
    type Patch = PatchNote;

    const SPEC: &'static ResourceSpec = &SPEC;
    const ID: Column = Column::Id;
    const CREATED_AT: Column = Column::CreatedAt;
}

impl ResourceGlue for NoteByHand {
    fn new_row(input: CreateNote, row: NewRow) -> ActiveModel {
        ActiveModel {
            id: Set(row.id),
            owner_id: Set(row.owner_id),
            title: Set(input.title),
            // Read-only: the default, whatever the client sent (it cannot
            // send it: the create body has no such member).
            state: Set("draft".to_owned()),
            body: Set(input.body),
            created_at: Set(row.now),
            updated_at: Set(row.now),
        }
    }

    fn defaults() -> ActiveModel {
        // What a `state` column added to an existing table fills its rows with.
        ActiveModel { state: Set("draft".to_owned()), ..Default::default() }
    }

    fn replace_row(input: CreateNote, id: Uuid, now: DateTime<Utc>) -> ActiveModel {
        ActiveModel {
            id: Unchanged(id),
            title: Set(input.title),
            body: Set(input.body),
            updated_at: Set(now),
            ..Default::default()
        }
    }

    fn patch_row(input: PatchNote, id: Uuid, now: DateTime<Utc>) -> ActiveModel {
        let mut row = ActiveModel { id: Unchanged(id), updated_at: Set(now), ..Default::default() };
        if let Some(title) = input.title {
            row.title = Set(title);
        }
        if let Some(body) = input.body {
            row.body = Set(body);
        }
        row
    }

    fn id_of(model: &Model) -> Uuid {
        model.id
    }

    fn owner_of(model: &Model) -> Option<Uuid> {
        model.owner_id
    }

    fn requested_owner(input: &CreateNote) -> Option<Uuid> {
        input.owner_id
    }

    fn validate_create(input: &CreateNote, errors: &mut Vec<FieldError>) {
        glue::check(&FIELDS[0], &input.title, errors);
    }

    fn validate_patch(input: &PatchNote, errors: &mut Vec<FieldError>) {
        if let Some(title) = &input.title {
            glue::check(&FIELDS[0], title, errors);
        }
    }

    fn validate_fields(&self, errors: &mut Vec<FieldError>) {
        glue::check(&FIELDS[0], &self.title, errors);
    }

    fn from_model(model: Model) -> Result<Record<Self>, fastsaas::error::DecodeError> {
        Ok(Record {
            id: model.id,
            owner_id: model.owner_id,
            template_id: None,
            created_at: model.created_at,
            updated_at: model.updated_at,
            data: NoteByHand {
                title: String::from_stored(model.title)?,
                state: String::from_stored(model.state)?,
                body: Option::<String>::from_stored(model.body)?,
            },
        })
    }

    fn into_model(record: Record<Self>) -> Model {
        let Record { id, owner_id, created_at, updated_at, data, .. } = record;
        Model { id, owner_id, title: data.title, state: data.state, body: data.body, created_at, updated_at }
    }

    fn serialize_visible_fields<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("title", &self.title)?;
        map.serialize_entry("state", &self.state)?;
        map.serialize_entry("body", &self.body)
    }
}

/// No templates and no `#[endpoints]` block: the defaults.
impl ResourceRoutes for NoteByHand {}

/// A record's JSON without what differs between two servings of one
/// request (ids, times).
fn comparable(mut record: Value) -> Value {
    if let Some(object) = record.as_object_mut() {
        for generated in ["id", "owner_id", "created_at", "updated_at"] {
            object.remove(generated);
        }
    }
    record
}

#[test]
fn the_twin_describes_the_same_fields() {
    assert_eq!(format!("{:?}", Note::SPEC.fields), format!("{:?}", NoteByHand::SPEC.fields));
    assert_eq!(Note::SPEC.ops, NoteByHand::SPEC.ops);
    assert_eq!(Note::SPEC.acl_admins, NoteByHand::SPEC.acl_admins);
}

#[tokio::test]
async fn the_derived_resource_and_its_twin_answer_alike() {
    let app = App::new(Default::default()).resource::<Note>().resource::<NoteByHand>();
    let client = TestClient::start(app).await;
    let ann = client.sign_up("ann@example.com").await;
    let mut answers: Vec<Vec<(u16, Value)>> = Vec::new();
    for scope in ["/notes", "/handmade-notes"] {
        let mut seen = Vec::new();
        let mut exchange = |status: u16, body: Value| seen.push((status, body));
        let created = client.post(scope).bearer(&ann.token).json(&json!({"title": "first", "body": null})).send().await;
        let (status, record) = (created.status(), created.json::<Value>());
        let id = record["id"].as_str().unwrap_or_default().to_owned();
        exchange(status.as_u16(), comparable(record));
        let refused = client.post(scope).bearer(&ann.token).json(&json!({"title": "", "state": "done"})).send().await;
        exchange(refused.status().as_u16(), refused.json());
        let patched =
            client.patch(&format!("{scope}/{id}")).bearer(&ann.token).json(&json!({"body": "more"})).send().await;
        exchange(patched.status().as_u16(), comparable(patched.json()));
        let page: Value =
            client.get(&format!("{scope}?title=first&sort=-title")).bearer(&ann.token).send().await.json();
        let items: Vec<Value> = page["items"].as_array().into_iter().flatten().cloned().map(comparable).collect();
        exchange(200, json!({"items": items, "total": page["total"]}));
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "the derive and its hand-written twin disagree");
    assert_eq!(answers[0][0], (201, json!({"title": "first", "state": "draft", "body": null})));
}
