//! The `comments` table: readers' comments, threaded by `thread_*` and `path`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub article_id: String,
    pub parent_id: Option<String>,
    pub depth: i32,
    /// The thread's top-level comment, and its time: threads sort by them.
    pub thread_id: String,
    pub thread_time: DateTimeUtc,
    /// The ancestors' sort keys and this comment's, joined by `/`.
    pub path: String,
    pub author_name: String,
    pub author_email: String,
    /// Who the comment is by, for the author's history.
    pub author_key: String,
    pub body: String,
    pub body_html: String,
    pub body_fingerprint: String,
    pub status: String,
    pub moderation_reason: String,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
    pub delete_time: Option<DateTimeUtc>,
    pub version: i64,
    /// The key that last moderated the comment (empty until then).
    pub moderator: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
