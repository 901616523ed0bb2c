//! The `article_revisions` table: an article's immutable history.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "article_revisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub article_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i32,
    pub action: String,
    pub create_time: DateTimeUtc,
    /// A JSON array of field names.
    pub changed_fields: String,
    pub note: String,
    pub status: String,
    /// The content after the change, as JSON.
    pub content: String,
    /// Who made the change.
    pub actor: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
