//! The `article_live` table: the version of an article readers see, copied
//! from the working copy when it goes live.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "article_live")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub article_id: String,
    pub title: String,
    pub subtitle: String,
    pub body: String,
    pub section: String,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    /// The revision that went live.
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
