//! The `events` table: the change feed, written in the same transaction as
//! each change.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub sequence: i64,
    pub event_type: String,
    pub occur_time: DateTimeUtc,
    pub article_id: Option<String>,
    pub author_id: Option<String>,
    /// The resource after the change, as JSON.
    pub payload: String,
    /// Who made the change.
    pub actor: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
