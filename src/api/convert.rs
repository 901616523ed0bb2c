//! Domain values to proto messages, for every service that returns them.
//! Each conversion destructures the whole value, so a field added on either
//! side is a compile error until someone decides where it goes.

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        article::{Article, ArticleContent, ArticleStatus, ArticleView},
        article_edit::{reading_time_minutes, word_count},
        author::{Author, AuthorKind},
        comment::{Comment, CommentStatus, ModerationDecision},
        etag::etag,
        event::{Event, EventPayload},
        revision::{ArticleRevision, RevisionAction},
        share::{ShareChannel, ShareRecord, ShareStats},
    },
    proto as pb,
};

pub(super) fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        // Always below 10^9 (leap seconds excepted, which chrono folds in).
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(999_999_999),
    }
}

/// The time in a proto timestamp, or `None` when it is out of range.
pub(super) fn time_from_pb(timestamp: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

pub(super) fn status_to_pb(status: ArticleStatus) -> pb::ArticleStatus {
    match status {
        ArticleStatus::Draft => pb::ArticleStatus::Draft,
        ArticleStatus::InReview => pb::ArticleStatus::InReview,
        ArticleStatus::Scheduled => pb::ArticleStatus::Scheduled,
        ArticleStatus::Published => pb::ArticleStatus::Published,
        ArticleStatus::Archived => pb::ArticleStatus::Archived,
    }
}

/// The status a list filter names; `Ok(None)` for unspecified.
pub(super) fn status_from_pb(status: i32) -> Result<Option<ArticleStatus>, ()> {
    match pb::ArticleStatus::try_from(status).map_err(|_| ())? {
        pb::ArticleStatus::Unspecified => Ok(None),
        pb::ArticleStatus::Draft => Ok(Some(ArticleStatus::Draft)),
        pb::ArticleStatus::InReview => Ok(Some(ArticleStatus::InReview)),
        pb::ArticleStatus::Scheduled => Ok(Some(ArticleStatus::Scheduled)),
        pb::ArticleStatus::Published => Ok(Some(ArticleStatus::Published)),
        pb::ArticleStatus::Archived => Ok(Some(ArticleStatus::Archived)),
    }
}

pub(super) fn article_to_pb(article: Article) -> pb::Article {
    let Article {
        id,
        content:
            ArticleContent {
                slug,
                language,
                title,
                subtitle,
                body,
                author_ids,
                tags,
                section,
                comments_enabled,
            },
        status,
        word_count,
        reading_time_minutes,
        create_time,
        update_time,
        delete_time,
        publish_time,
        last_publish_time,
        scheduled_publish_time,
        has_unpublished_changes,
        revision,
        comment_count,
        version,
    } = article;
    pb::Article {
        etag: etag(&id, version),
        id,
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        status: status_to_pb(status).into(),
        comments_enabled: Some(comments_enabled),
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        delete_time: delete_time.map(timestamp),
        word_count: count_to_pb(word_count),
        reading_time_minutes: count_to_pb(reading_time_minutes),
        publish_time: publish_time.map(timestamp),
        last_publish_time: last_publish_time.map(timestamp),
        scheduled_publish_time: scheduled_publish_time.map(timestamp),
        has_unpublished_changes,
        revision,
        comment_count: count_to_pb(comment_count),
    }
}

/// An article message holding a revision's content, and nothing else: a
/// snapshot has no identity, state or times of its own.
fn snapshot_to_pb(content: ArticleContent) -> pb::Article {
    let ArticleContent {
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
    } = content;
    let words = word_count(&body);
    pb::Article {
        id: String::new(),
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        status: pb::ArticleStatus::Unspecified.into(),
        comments_enabled: Some(comments_enabled),
        create_time: None,
        update_time: None,
        delete_time: None,
        etag: String::new(),
        word_count: count_to_pb(words),
        reading_time_minutes: count_to_pb(reading_time_minutes(words)),
        publish_time: None,
        last_publish_time: None,
        scheduled_publish_time: None,
        has_unpublished_changes: false,
        revision: 0,
        comment_count: 0,
    }
}

pub(super) fn count_to_pb(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

pub(super) fn author_to_pb(author: Author) -> pb::Author {
    let Author {
        id,
        display_name,
        slug,
        kind,
        bio,
        email,
        create_time,
        update_time,
        version,
    } = author;
    let kind = match kind {
        AuthorKind::Person => pb::AuthorKind::Person,
        AuthorKind::Desk => pb::AuthorKind::Desk,
    };
    pb::Author {
        etag: etag(&id, version),
        id,
        display_name,
        slug,
        kind: kind.into(),
        bio,
        email,
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
    }
}

pub(super) fn revision_to_pb(revision: ArticleRevision) -> pb::ArticleRevision {
    let ArticleRevision {
        article_id,
        revision,
        action,
        create_time,
        changed_fields,
        note,
        status,
        content,
        actor,
    } = revision;
    let action = match action {
        RevisionAction::Created => pb::RevisionAction::Created,
        RevisionAction::Updated => pb::RevisionAction::Updated,
        RevisionAction::Submitted => pb::RevisionAction::Submitted,
        RevisionAction::Returned => pb::RevisionAction::Returned,
        RevisionAction::Scheduled => pb::RevisionAction::Scheduled,
        RevisionAction::Published => pb::RevisionAction::Published,
        RevisionAction::Unpublished => pb::RevisionAction::Unpublished,
        RevisionAction::Archived => pb::RevisionAction::Archived,
        RevisionAction::Restored => pb::RevisionAction::Restored,
        RevisionAction::Deleted => pb::RevisionAction::Deleted,
        RevisionAction::Undeleted => pb::RevisionAction::Undeleted,
    };
    pb::ArticleRevision {
        article_id,
        revision,
        action: action.into(),
        create_time: Some(timestamp(create_time)),
        changed_fields,
        note,
        status: status_to_pb(status).into(),
        snapshot: Some(snapshot_to_pb(content)),
        actor,
    }
}

pub(super) fn event_to_pb(event: Event) -> pb::Event {
    let Event {
        sequence,
        event_type,
        occur_time,
        article_id,
        author_id,
        payload,
        actor,
    } = event;
    let payload = match payload {
        EventPayload::Article(article) => pb::event::Payload::Article(article_to_pb(*article)),
        EventPayload::Author(author) => pb::event::Payload::Author(author_to_pb(author)),
        EventPayload::Comment {
            comment,
            decision,
            reason,
        } => pb::event::Payload::Comment(pb::CommentEvent {
            comment: Some(comment_to_pb(*comment, Audience::Moderators)),
            decision: decision
                .map_or(pb::ModerationDecision::Unspecified, decision_to_pb)
                .into(),
            reason,
        }),
        EventPayload::Share(share) => pb::event::Payload::Share(share_event_to_pb(share)),
    };
    pb::Event {
        sequence,
        r#type: event_type,
        occur_time: Some(timestamp(occur_time)),
        article_id: article_id.unwrap_or_default(),
        author_id: author_id.unwrap_or_default(),
        payload: Some(payload),
        actor,
    }
}

/// Who a comment is shown to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Audience {
    /// Readers see approved comments, and tombstones for hidden comments that
    /// hold visible replies together.
    Readers,
    /// Moderators (and the change feed) see every comment whole, with its
    /// moderation reason.
    Moderators,
}

/// A comment for `audience`. The commenter's e-mail address is never sent.
pub(super) fn comment_to_pb(comment: Comment, audience: Audience) -> pb::Comment {
    let tombstone = audience == Audience::Readers && !comment.is_visible();
    let comment = if tombstone {
        comment.into_tombstone()
    } else {
        comment
    };
    let Comment {
        id,
        article_id,
        parent_id,
        depth,
        author_name,
        author_email: _,
        body,
        body_html,
        status,
        moderation_reason,
        create_time,
        update_time,
        delete_time: _,
        version,
        moderator,
    } = comment;
    // A tombstone says nothing of why its comment is hidden.
    let status = match status {
        _ if tombstone => pb::CommentStatus::Unspecified,
        CommentStatus::Pending => pb::CommentStatus::Pending,
        CommentStatus::Approved => pb::CommentStatus::Approved,
        CommentStatus::Rejected => pb::CommentStatus::Rejected,
        CommentStatus::Spam => pb::CommentStatus::Spam,
    };
    pb::Comment {
        etag: etag(&id, version),
        id,
        article_id,
        parent_id: parent_id.unwrap_or_default(),
        depth: i32::from(depth),
        author_name,
        author_email: String::new(),
        body,
        body_html,
        status: status.into(),
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        tombstone,
        moderation_reason: match audience {
            Audience::Moderators => moderation_reason,
            Audience::Readers => String::new(),
        },
        moderator: match audience {
            Audience::Moderators => moderator,
            Audience::Readers => String::new(),
        },
    }
}

fn decision_to_pb(decision: ModerationDecision) -> pb::ModerationDecision {
    match decision {
        ModerationDecision::Approve => pb::ModerationDecision::Approve,
        ModerationDecision::Reject => pb::ModerationDecision::Reject,
        ModerationDecision::Spam => pb::ModerationDecision::Spam,
    }
}

pub(super) fn channel_to_pb(channel: ShareChannel) -> pb::ShareChannel {
    match channel {
        ShareChannel::Facebook => pb::ShareChannel::Facebook,
        ShareChannel::X => pb::ShareChannel::X,
        ShareChannel::WhatsApp => pb::ShareChannel::Whatsapp,
        ShareChannel::Telegram => pb::ShareChannel::Telegram,
        ShareChannel::LinkedIn => pb::ShareChannel::Linkedin,
        ShareChannel::Email => pb::ShareChannel::Email,
        ShareChannel::CopyLink => pb::ShareChannel::CopyLink,
        ShareChannel::Other => pb::ShareChannel::Other,
    }
}

/// The channel a request names; `None` for unspecified or unknown values.
pub(super) fn channel_from_pb(channel: i32) -> Option<ShareChannel> {
    match pb::ShareChannel::try_from(channel).ok()? {
        pb::ShareChannel::Unspecified => None,
        pb::ShareChannel::Facebook => Some(ShareChannel::Facebook),
        pb::ShareChannel::X => Some(ShareChannel::X),
        pb::ShareChannel::Whatsapp => Some(ShareChannel::WhatsApp),
        pb::ShareChannel::Telegram => Some(ShareChannel::Telegram),
        pb::ShareChannel::Linkedin => Some(ShareChannel::LinkedIn),
        pb::ShareChannel::Email => Some(ShareChannel::Email),
        pb::ShareChannel::CopyLink => Some(ShareChannel::CopyLink),
        pb::ShareChannel::Other => Some(ShareChannel::Other),
    }
}

fn share_event_to_pb(share: ShareRecord) -> pb::ShareEvent {
    let ShareRecord {
        article_id,
        channel,
        time,
        counted,
    } = share;
    pb::ShareEvent {
        article_id,
        channel: channel_to_pb(channel).into(),
        share_time: Some(timestamp(time)),
        counted,
    }
}

pub(super) fn share_stats_to_pb(article_id: String, stats: ShareStats) -> pb::ShareStats {
    let ShareStats {
        total,
        by_channel,
        first_share_time,
        last_share_time,
    } = stats;
    pb::ShareStats {
        article_id,
        total,
        by_channel: by_channel
            .into_iter()
            .map(|(channel, count)| pb::ChannelCount {
                channel: channel_to_pb(channel).into(),
                count,
            })
            .collect(),
        first_share_time: first_share_time.map(timestamp),
        last_share_time: last_share_time.map(timestamp),
    }
}

/// The message for `article` read in `view`. The published view is for
/// readers, who write nothing: it carries no etag, which would otherwise
/// change with every unpublished edit and give those away.
pub(super) fn article_in_view(article: Article, view: ArticleView) -> pb::Article {
    let mut message = article_to_pb(article);
    if view == ArticleView::Published {
        message.etag.clear();
    }
    message
}
