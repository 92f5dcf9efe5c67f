//! `FASTSAAS_ADMIN_EMAIL` / `FASTSAAS_ADMIN_PASSWORD`: a superadmin that
//! exists after every start-up, made idempotently.

use chrono::Utc;
use fastsaas_core::Settings;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entities::{role, user, user_role};
use super::password;
use super::principal::SUPERADMIN;
use crate::error::StartupError;

/// Creates the configured admin user if missing and gives it the
/// `superadmin` role. Safe to run from several replicas at once.
pub(crate) async fn ensure_admin(db: &DatabaseConnection, settings: &Settings) -> Result<(), StartupError> {
    let Some(email) = settings.admin_email.as_deref().map(normalize_email) else {
        return Ok(());
    };
    let user_id = match find_user(db, &email).await? {
        Some(id) => id,
        None => {
            let Some(secret) = &settings.admin_password else {
                return Err(StartupError::Config(format!(
                    "FASTSAAS_ADMIN_EMAIL names {email}, who does not exist yet: set FASTSAAS_ADMIN_PASSWORD too"
                )));
            };
            if secret.expose().chars().count() < 8 {
                return Err(StartupError::Config("FASTSAAS_ADMIN_PASSWORD needs at least 8 characters".into()));
            }
            let hash = password::hash(secret.expose().to_owned(), password::HashCost::of(settings.env))
                .await
                .map_err(|_| StartupError::Config("cannot hash FASTSAAS_ADMIN_PASSWORD".into()))?;
            let now = Utc::now();
            let row = user::ActiveModel {
                id: Set(Uuid::new_v4()),
                email: Set(email.clone()),
                name: Set(None),
                password_hash: Set(hash),
                created_at: Set(now),
                updated_at: Set(now),
            };
            user::Entity::insert(row)
                .on_conflict(OnConflict::column(user::Column::Email).do_nothing().to_owned())
                .exec_without_returning(db)
                .await?;
            find_user(db, &email).await?.ok_or_else(|| StartupError::Config(format!("cannot create {email}")))?
        }
    };
    let role_id = ensure_role(db, SUPERADMIN).await?;
    user_role::Entity::insert(user_role::ActiveModel {
        user_id: Set(user_id),
        role_id: Set(role_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::columns([user_role::Column::UserId, user_role::Column::RoleId]).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    tracing::info!(%email, "superadmin ready");
    Ok(())
}

/// The id of the role `name`, created if missing.
pub(crate) async fn ensure_role(db: &DatabaseConnection, name: &str) -> Result<Uuid, sea_orm::DbErr> {
    role::Entity::insert(role::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::column(role::Column::Name).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    let found = role::Entity::find().filter(role::Column::Name.eq(name)).one(db).await?;
    found.map(|role| role.id).ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("role {name}")))
}

async fn find_user(db: &DatabaseConnection, email: &str) -> Result<Option<Uuid>, sea_orm::DbErr> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email)).one(db).await?.map(|user| user.id))
}

/// E-mails are compared without case and surrounding space.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
