//! Comments in the database: posting (with the moderation policy's verdict
//! and the author's history read in the same transaction), threaded reads for
//! readers, the moderation queue, moderation and deletion (`read` and
//! `write`). The article's count of approved comments moves in the same
//! transaction as the comment.

mod read;
mod write;

use crate::{
    domain::{
        comment::{Comment, CommentStatus},
        paging::Cursor,
    },
    error::Error,
};

use super::entities::comments;

/// The orders a thread list can take: threads oldest or newest first, each
/// thread's replies always after it, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadOrder {
    OldestFirst,
    NewestFirst,
}

/// One page of comments, and where the next one starts (`None` on the last
/// page).
#[derive(Debug)]
pub struct CommentPage {
    pub comments: Vec<Comment>,
    pub next: Option<Cursor>,
}

fn comment_from_row(row: comments::Model) -> Result<Comment, Error> {
    let comments::Model {
        id,
        article_id,
        parent_id,
        depth,
        thread_id: _,
        thread_time: _,
        path: _,
        author_name,
        author_email,
        author_key: _,
        body,
        body_html,
        body_fingerprint: _,
        status,
        moderation_reason,
        create_time,
        update_time,
        delete_time,
        version,
        moderator,
    } = row;
    let status = CommentStatus::parse(&status).ok_or_else(|| {
        Error::Internal(format!("comment {id} has the unknown status `{status}`"))
    })?;
    Ok(Comment {
        id,
        article_id,
        parent_id,
        depth: u8::try_from(depth).unwrap_or(u8::MAX),
        author_name,
        author_email,
        body,
        body_html,
        status,
        moderation_reason,
        create_time,
        update_time,
        delete_time,
        version,
        moderator,
    })
}

fn comment_not_found(id: &str) -> Error {
    Error::NotFound(format!("comment {id} does not exist"))
}
