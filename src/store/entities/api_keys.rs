//! The `api_keys` table: keys by the SHA-256 of their tokens; the tokens
//! themselves are never stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub role: String,
    pub author_id: Option<String>,
    pub token_hash: String,
    /// Who made the key (`keys/<id>`, or `system/cli` for the first one).
    pub creator: String,
    pub create_time: DateTimeUtc,
    pub revoke_time: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
