//! Pure rules of the newsroom: the content model, the editorial workflow,
//! revisions and events, text normalisation, slugs, validation, update masks,
//! paging tokens and etags. Nothing here knows about tonic or sea_orm.

pub mod access;
pub mod article;
pub mod article_edit;
pub mod author;
pub mod clock;
pub mod comment;
pub mod etag;
pub mod event;
pub mod fingerprint;
pub mod key;
pub mod language;
pub mod moderation;
pub mod paging;
pub mod revision;
pub mod share;
pub mod slug;
pub mod text;
pub mod update_mask;
pub mod validation;
pub mod workflow;
