//! The `shares` table: every share recorded, counted or not.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shares")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub article_id: String,
    pub channel: String,
    /// SHA-256 of the client id; the id itself is never stored.
    pub client_hash: Option<String>,
    /// What the repeat lookup finds a known client's share by
    /// (`migrations::share_repeat_key`); none for an anonymous share.
    pub repeat_key: Option<i64>,
    pub referrer: String,
    pub create_time: DateTimeUtc,
    pub counted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
