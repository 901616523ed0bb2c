//! Update masks cannot reach around the workflow: every output-only field of
//! an article or author named in a mask is refused, whatever the caller's
//! role, and the same fields set in an update without a mask change nothing.
//! The lists of fields are written out here and checked against the protos,
//! so that a new field has to be classified before this test passes.

use newsdesk::proto::{self as pb, FILE_DESCRIPTOR_SET};
use prost::Message;
use prost_types::{FieldMask, FileDescriptorSet, Timestamp};

use crate::support::{TestApp, assert_invalid, draft};

const ARTICLE_WRITABLE: &[&str] = &[
    "slug",
    "language",
    "title",
    "subtitle",
    "body",
    "author_ids",
    "tags",
    "section",
    "comments_enabled",
];
const ARTICLE_OUTPUT_ONLY: &[&str] = &[
    "id",
    "status",
    "create_time",
    "update_time",
    "delete_time",
    "etag",
    "word_count",
    "reading_time_minutes",
    "publish_time",
    "last_publish_time",
    "scheduled_publish_time",
    "has_unpublished_changes",
    "revision",
    "comment_count",
];
const AUTHOR_WRITABLE: &[&str] = &["display_name", "slug", "kind", "bio", "email"];
const AUTHOR_OUTPUT_ONLY: &[&str] = &["id", "create_time", "update_time", "etag"];

/// The field names of the message `newsdesk.v1.<name>`, from the protos.
fn proto_fields(name: &str) -> Vec<String> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the descriptor set");
    let message = set
        .file
        .iter()
        .filter(|file| file.package() == "newsdesk.v1")
        .flat_map(|file| &file.message_type)
        .find(|message| message.name() == name)
        .unwrap_or_else(|| panic!("no message {name}"));
    let mut fields: Vec<String> = message
        .field
        .iter()
        .map(|field| field.name().to_owned())
        .collect();
    fields.sort();
    fields
}

fn sorted(lists: &[&[&str]]) -> Vec<String> {
    let mut all: Vec<String> = lists
        .iter()
        .flat_map(|list| list.iter().map(|name| (*name).to_owned()))
        .collect();
    all.sort();
    all
}

#[test]
fn every_field_is_classified_as_writable_or_output_only() {
    assert_eq!(
        proto_fields("Article"),
        sorted(&[ARTICLE_WRITABLE, ARTICLE_OUTPUT_ONLY])
    );
    assert_eq!(
        proto_fields("Author"),
        sorted(&[AUTHOR_WRITABLE, AUTHOR_OUTPUT_ONLY])
    );
}

#[tokio::test]
async fn output_only_paths_in_a_mask_are_refused_for_every_role() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&desk.id)).await);
    let editor = app.as_token(&app.token(pb::Role::Editor, None).await);
    let article = app.article(draft("خبر", &desk)).await;

    let admin = app.as_token(&app.admin_token);
    for (who, clients) in [("writer", &writer), ("editor", &editor), ("admin", &admin)] {
        for path in ARTICLE_OUTPUT_ONLY {
            let status = clients
                .articles
                .clone()
                .update_article(pb::UpdateArticleRequest {
                    article: Some(pb::Article {
                        id: article.id.clone(),
                        title: "عنوان آخر".into(),
                        ..Default::default()
                    }),
                    // A writable path first, so that the refusal is about
                    // this one alone.
                    update_mask: Some(FieldMask {
                        paths: vec!["title".into(), (*path).into()],
                    }),
                })
                .await
                .expect_err(&format!("{who} naming {path}"));
            assert_invalid(&status, "update_mask.paths[1]");
        }
    }
    for path in AUTHOR_OUTPUT_ONLY {
        let status = editor
            .authors
            .clone()
            .update_author(pb::UpdateAuthorRequest {
                author: Some(pb::Author {
                    id: desk.id.clone(),
                    bio: "سيرة".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["bio".into(), (*path).into()],
                }),
            })
            .await
            .expect_err(path);
        assert_invalid(&status, "update_mask.paths[1]");
    }

    // None of those refusals changed anything.
    let after = app.get_article(&article.id).await.expect("get");
    assert_eq!(after.title, article.title);
    assert_eq!(after.revision, article.revision);
    assert_eq!(after.etag, article.etag);
}

/// `article` with every output-only field but its id and etag (which name
/// the article and the version the update is for) set to something the
/// workflow never gave it.
fn with_forged_output_fields(article: &pb::Article) -> pb::Article {
    let forged_time = Some(Timestamp {
        seconds: 946_684_800,
        nanos: 0,
    });
    pb::Article {
        status: pb::ArticleStatus::Published.into(),
        create_time: forged_time,
        update_time: forged_time,
        delete_time: forged_time,
        word_count: 9_999,
        reading_time_minutes: 99,
        publish_time: forged_time,
        last_publish_time: forged_time,
        scheduled_publish_time: forged_time,
        has_unpublished_changes: true,
        revision: 77,
        comment_count: 1_000,
        ..article.clone()
    }
}

#[tokio::test]
async fn output_only_fields_set_without_a_mask_change_nothing() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&desk.id)).await);

    for (who, clients) in [
        ("writer", &writer),
        ("admin", &app.as_token(&app.admin_token)),
    ] {
        let before = app.article(draft("خبر", &desk)).await;
        let mut forged = with_forged_output_fields(&before);
        forged.title = format!("عنوان جديد من {who}");
        let updated = clients
            .articles
            .clone()
            .update_article(pb::UpdateArticleRequest {
                article: Some(forged),
                update_mask: None,
            })
            .await
            .unwrap_or_else(|status| panic!("{who} updates without a mask: {status:?}"))
            .into_inner();
        assert_eq!(updated.title, format!("عنوان جديد من {who}"), "{who}");
        assert_eq!(updated.status(), pb::ArticleStatus::Draft, "{who}");
        assert_eq!(updated.create_time, before.create_time, "{who}");
        assert_eq!(updated.delete_time, None, "{who}");
        assert_eq!(updated.publish_time, None, "{who}");
        assert_eq!(updated.last_publish_time, None, "{who}");
        assert_eq!(updated.scheduled_publish_time, None, "{who}");
        assert!(!updated.has_unpublished_changes, "{who}");
        assert_eq!(updated.revision, before.revision + 1, "{who}");
        assert_eq!(updated.comment_count, 0, "{who}");
        assert_eq!(updated.word_count, before.word_count, "{who}");
        assert_ne!(updated.update_time, before.update_time, "{who}");
        // And what is stored agrees with what was answered.
        let stored = app.get_article(&before.id).await.expect("get");
        assert_eq!(stored, updated, "{who}");
        // Nothing reached the published view.
        let published = app
            .as_anonymous()
            .articles
            .get_article(pb::GetArticleRequest {
                id: before.id.clone(),
                view: pb::ArticleView::Published.into(),
                ..Default::default()
            })
            .await;
        assert_eq!(
            published.map_err(|status| status.code()).err(),
            Some(tonic::Code::NotFound),
            "{who}"
        );
    }

    let desk_before = app
        .authors
        .clone()
        .get_author(pb::GetAuthorRequest {
            id: desk.id.clone(),
            ..Default::default()
        })
        .await
        .expect("get author")
        .into_inner();
    let forged_time = Some(Timestamp {
        seconds: 946_684_800,
        nanos: 0,
    });
    let updated = app
        .authors
        .clone()
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                bio: "سيرة جديدة".into(),
                create_time: forged_time,
                update_time: forged_time,
                ..desk_before.clone()
            }),
            update_mask: None,
        })
        .await
        .expect("update author without a mask")
        .into_inner();
    assert_eq!(updated.bio, "سيرة جديدة");
    assert_eq!(updated.create_time, desk_before.create_time);
    assert_ne!(updated.update_time, forged_time);
}
