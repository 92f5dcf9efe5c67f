//! The notifications of `#[crud(notify)]` resources: the owner of a
//! changed object (a user, or the admins of an owning organization) is told
//! what changed, in the transaction of the change, if they may read the
//! object (a deny entry silences them as it hides the object).

use fastsaas_core::{ApiResult, ResourceSpec};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use serde_json::json;
use uuid::Uuid;

use super::Notifier;
use super::bus::Wake;
use super::store::Draft;
use crate::access::{self, Subject};
use crate::error::internal;
use crate::identity::acl_principal_of;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// The users that stand for principal `$1`: itself if it is a user, its
/// admins if it is an organization.
const USERS_FOR: &str = "SELECT id FROM fastsaas_users WHERE id = $1 \
    UNION SELECT user_id FROM fastsaas_memberships WHERE organization_id = $1 AND role = 'admin'";

/// The notifications of one change, written; who to wake once the change
/// has committed ([`Told::committed`]).
#[derive(Debug, Default)]
#[must_use = "the recipients are woken once the change commits"]
pub(crate) struct Told(Vec<Uuid>);

impl Notifier {
    /// Tells `readers` (see [`owners_who_read`]) that `actor` made `change`
    /// to object `id` of type `type_name`, in `tx`, the change's own
    /// transaction. The notification's kind is `<type>.<change>`
    /// (`Agent.updated`), its payload `{type, id, change, by}`.
    pub(crate) async fn write_change(
        &self,
        tx: &DatabaseTransaction,
        readers: Vec<Uuid>,
        type_name: &str,
        (change, id): (Change, Uuid),
        actor: Uuid,
    ) -> Result<Told, DbErr> {
        let draft = |recipient| Draft {
            recipient,
            kind: format!("{type_name}.{}", change.as_str()),
            message: format!("{type_name} {id} was {}", change.as_str()),
            payload: json!({"type": type_name, "id": id, "change": change.as_str(), "by": actor}),
        };
        self.write_all(tx, readers.into_iter().map(draft)).await
    }

    /// Writes `drafts` in `tx`; their recipients, to wake once it commits.
    pub(crate) async fn write_all(
        &self,
        tx: &DatabaseTransaction,
        drafts: impl IntoIterator<Item = Draft>,
    ) -> Result<Told, DbErr> {
        let mut told = Told::default();
        for draft in drafts {
            told.0.push(draft.recipient);
            self.write(tx, draft).await?;
        }
        Ok(told)
    }
}

/// The users who own object `(id, owner)` of `spec`'s type (the owner, or
/// the admins of the owning organization) and may read it.
pub(crate) async fn owners_who_read(
    db: &impl ConnectionTrait,
    spec: &ResourceSpec,
    (id, owner): (Uuid, Option<Uuid>),
) -> ApiResult<Vec<Uuid>> {
    let mut readers = Vec::new();
    for user in users_for(db, owner.into_iter()).await.map_err(internal)? {
        let subject = Subject::of(acl_principal_of(db, user).await?);
        if access::decision(db, spec, &subject, "read", Some((id, owner))).await?.allowed {
            readers.push(user);
        }
    }
    Ok(readers)
}

/// The users that stand for `principals`: each one that is a user, and the
/// admins of each one that is an organization; each user once, in order.
pub(crate) async fn users_for(
    db: &impl ConnectionTrait,
    principals: impl Iterator<Item = Uuid>,
) -> Result<Vec<Uuid>, DbErr> {
    let mut users: Vec<Uuid> = Vec::new();
    for principal in principals {
        let statement = Statement::from_sql_and_values(db.get_database_backend(), USERS_FOR, [principal.into()]);
        for row in db.query_all_raw(statement).await? {
            let user = row.try_get_by_index::<Uuid>(0)?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
    }
    Ok(users)
}

impl Told {
    /// These and `more`'s recipients.
    pub(crate) fn and(mut self, more: Told) -> Told {
        self.0.extend(more.0);
        self
    }

    /// Wakes the recipients' sockets, their notifications committed.
    pub(crate) fn committed(self, notifier: &Notifier) {
        for recipient in self.0 {
            notifier.committed(Wake::Recipient(recipient));
        }
    }
}
