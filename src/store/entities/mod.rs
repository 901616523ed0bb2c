//! sea-orm entities, one per table. The schema itself is defined only by the
//! migrations; these mirror it column for column.

pub mod api_keys;
pub mod article_authors;
pub mod article_live;
pub mod article_live_authors;
pub mod article_live_tags;
pub mod article_revisions;
pub mod article_tags;
pub mod articles;
pub mod authors;
pub mod comments;
pub mod events;
pub mod request_ids;
pub mod share_totals;
pub mod shares;
