//! `fastsaas_notifications` and `fastsaas_notification_seqs` (see
//! `migrations::m0009_notifications`).

/// `fastsaas_notifications`: one row per notification.
pub(crate) mod notification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "fastsaas_notifications")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: Uuid,
        pub(crate) recipient_id: Uuid,
        /// The recipient's own count: 1, 2, 3… in commit order.
        pub(crate) seq: i64,
        pub(crate) kind: String,
        pub(crate) message: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub(crate) payload: Json,
        pub(crate) created_at: DateTimeUtc,
        pub(crate) read_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
