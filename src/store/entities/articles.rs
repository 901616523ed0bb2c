//! The `articles` table: one row per article, holding its working copy and
//! workflow state; bylines, tags and the live version are in their own tables.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "articles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub slug: String,
    pub language: String,
    pub title: String,
    pub subtitle: String,
    pub body: String,
    pub section: String,
    pub status: String,
    pub comments_enabled: bool,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
    pub delete_time: Option<DateTimeUtc>,
    pub version: i64,
    pub publish_time: Option<DateTimeUtc>,
    pub last_publish_time: Option<DateTimeUtc>,
    pub scheduled_publish_time: Option<DateTimeUtc>,
    pub has_unpublished_changes: bool,
    pub revision: i32,
    /// Approved comments that are not deleted, kept in step by every
    /// comment write.
    pub comment_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
