//! The editorial workflow: publish times and pending-edit flags on articles,
//! the live version readers see (`article_live` and its bylines and tags),
//! the revision history, and the event log (the transactional outbox).
//!
//! Articles created before this migration get revision 1, "created", holding
//! their content as it is now.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, prelude::DateTimeUtc},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            timestamp_with_time_zone_null(Articles::PublishTime),
            timestamp_with_time_zone_null(Articles::LastPublishTime),
            timestamp_with_time_zone_null(Articles::ScheduledPublishTime),
            boolean(Articles::HasUnpublishedChanges)
                .default(false)
                .take(),
            integer(Articles::Revision).default(0).take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Articles::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // The published listing pages by publish time within a status; the
        // scheduler looks for due articles by their scheduled time.
        manager
            .create_index(
                Index::create()
                    .name("articles_status_publish_time_idx")
                    .table(Articles::Table)
                    .col(Articles::Status)
                    .col(Articles::PublishTime)
                    .col(Articles::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("articles_status_scheduled_publish_time_idx")
                    .table(Articles::Table)
                    .col(Articles::Status)
                    .col(Articles::ScheduledPublishTime)
                    .to_owned(),
            )
            .await?;

        create_live_tables(manager).await?;
        create_revisions(manager).await?;
        create_events(manager).await?;
        backfill_revisions(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            ArticleRevisions::Table.into_iden(),
            ArticleLiveTags::Table.into_iden(),
            ArticleLiveAuthors::Table.into_iden(),
            ArticleLive::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for index in [
            "articles_status_publish_time_idx",
            "articles_status_scheduled_publish_time_idx",
        ] {
            manager
                .drop_index(Index::drop().name(index).table(Articles::Table).to_owned())
                .await?;
        }
        for column in [
            Articles::PublishTime,
            Articles::LastPublishTime,
            Articles::ScheduledPublishTime,
            Articles::HasUnpublishedChanges,
            Articles::Revision,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Articles::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// What readers see: the content an article had when it last went live.
async fn create_live_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ArticleLive::Table)
                .col(text(ArticleLive::ArticleId).primary_key())
                .col(text(ArticleLive::Title))
                .col(text(ArticleLive::Subtitle))
                .col(text(ArticleLive::Body))
                .col(text(ArticleLive::Section))
                .col(integer(ArticleLive::WordCount))
                .col(integer(ArticleLive::ReadingTimeMinutes))
                .col(integer(ArticleLive::Revision))
                .foreign_key(
                    ForeignKey::create()
                        .name("article_live_article_id_fkey")
                        .from(ArticleLive::Table, ArticleLive::ArticleId)
                        .to(Articles::Table, Articles::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("article_live_section_idx")
                .table(ArticleLive::Table)
                .col(ArticleLive::Section)
                .col(ArticleLive::ArticleId)
                .to_owned(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(ArticleLiveAuthors::Table)
                .col(text(ArticleLiveAuthors::ArticleId))
                .col(text(ArticleLiveAuthors::AuthorId))
                .col(integer(ArticleLiveAuthors::Position))
                .primary_key(
                    Index::create()
                        .col(ArticleLiveAuthors::ArticleId)
                        .col(ArticleLiveAuthors::AuthorId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("article_live_authors_article_id_fkey")
                        .from(ArticleLiveAuthors::Table, ArticleLiveAuthors::ArticleId)
                        .to(ArticleLive::Table, ArticleLive::ArticleId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                // A live byline credits its author as much as a draft's does.
                .foreign_key(
                    ForeignKey::create()
                        .name("article_live_authors_author_id_fkey")
                        .from(ArticleLiveAuthors::Table, ArticleLiveAuthors::AuthorId)
                        .to(Authors::Table, Authors::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("article_live_authors_author_id_idx")
                .table(ArticleLiveAuthors::Table)
                .col(ArticleLiveAuthors::AuthorId)
                .col(ArticleLiveAuthors::ArticleId)
                .to_owned(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(ArticleLiveTags::Table)
                .col(text(ArticleLiveTags::ArticleId))
                .col(text(ArticleLiveTags::Tag))
                .col(integer(ArticleLiveTags::Position))
                .primary_key(
                    Index::create()
                        .col(ArticleLiveTags::ArticleId)
                        .col(ArticleLiveTags::Tag),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("article_live_tags_article_id_fkey")
                        .from(ArticleLiveTags::Table, ArticleLiveTags::ArticleId)
                        .to(ArticleLive::Table, ArticleLive::ArticleId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("article_live_tags_tag_idx")
                .table(ArticleLiveTags::Table)
                .col(ArticleLiveTags::Tag)
                .col(ArticleLiveTags::ArticleId)
                .to_owned(),
        )
        .await
}

/// The immutable history: one row per change, with the content after it.
async fn create_revisions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ArticleRevisions::Table)
                .col(text(ArticleRevisions::ArticleId))
                .col(integer(ArticleRevisions::Revision))
                .col(text(ArticleRevisions::Action))
                .col(timestamp_with_time_zone(ArticleRevisions::CreateTime))
                .col(text(ArticleRevisions::ChangedFields))
                .col(text(ArticleRevisions::Note))
                .col(text(ArticleRevisions::Status))
                .col(text(ArticleRevisions::Content))
                .primary_key(
                    Index::create()
                        .col(ArticleRevisions::ArticleId)
                        .col(ArticleRevisions::Revision),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("article_revisions_article_id_fkey")
                        .from(ArticleRevisions::Table, ArticleRevisions::ArticleId)
                        .to(Articles::Table, Articles::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
}

/// The event log. `sequence` is assigned at insert, and the service makes
/// insert order commit order (see the store's `append_event`), so readers can
/// page by sequence without ever skipping an event.
async fn create_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Events::Table)
                .col(big_pk_auto(Events::Sequence))
                .col(text(Events::EventType))
                .col(timestamp_with_time_zone(Events::OccurTime))
                .col(text_null(Events::ArticleId))
                .col(text_null(Events::AuthorId))
                .col(text(Events::Payload))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("events_article_id_sequence_idx")
                .table(Events::Table)
                .col(Events::ArticleId)
                .col(Events::Sequence)
                .to_owned(),
        )
        .await
}

/// Revision 1 for every article that predates revisions: "created", with the
/// content it has now. The JSON is the shape of the service's
/// `ArticleContent`.
async fn backfill_revisions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let articles = Query::select()
        .columns([
            Articles::Id,
            Articles::Slug,
            Articles::Language,
            Articles::Title,
            Articles::Subtitle,
            Articles::Body,
            Articles::Section,
            Articles::CommentsEnabled,
            Articles::CreateTime,
        ])
        .from(Articles::Table)
        .to_owned();
    for article in db.query_all(&articles).await? {
        let id: String = article.try_get("", "id")?;
        let list = |table: &str, column: &str| {
            Query::select()
                .column(Alias::new(column))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new("article_id")).eq(id.clone()))
                .order_by(Alias::new("position"), Order::Asc)
                .to_owned()
        };
        let mut author_ids = Vec::new();
        for row in db.query_all(&list("article_authors", "author_id")).await? {
            author_ids.push(row.try_get::<String>("", "author_id")?);
        }
        let mut tags = Vec::new();
        for row in db.query_all(&list("article_tags", "tag")).await? {
            tags.push(row.try_get::<String>("", "tag")?);
        }
        let content = serde_json::json!({
            "slug": article.try_get::<String>("", "slug")?,
            "language": article.try_get::<String>("", "language")?,
            "title": article.try_get::<String>("", "title")?,
            "subtitle": article.try_get::<String>("", "subtitle")?,
            "body": article.try_get::<String>("", "body")?,
            "author_ids": author_ids,
            "tags": tags,
            "section": article.try_get::<String>("", "section")?,
            "comments_enabled": article.try_get::<bool>("", "comments_enabled")?,
        });
        let create_time: DateTimeUtc = article.try_get("", "create_time")?;
        let insert = Query::insert()
            .into_table(ArticleRevisions::Table)
            .columns([
                ArticleRevisions::ArticleId,
                ArticleRevisions::Revision,
                ArticleRevisions::Action,
                ArticleRevisions::CreateTime,
                ArticleRevisions::ChangedFields,
                ArticleRevisions::Note,
                ArticleRevisions::Status,
                ArticleRevisions::Content,
            ])
            .values([
                id.clone().into(),
                1.into(),
                "created".into(),
                create_time.into(),
                "[]".into(),
                "".into(),
                "draft".into(),
                content.to_string().into(),
            ])
            .map_err(|error| DbErr::Migration(error.to_string()))?
            .to_owned();
        manager.exec_stmt(insert).await?;
        let update = Query::update()
            .table(Articles::Table)
            .value(Articles::Revision, 1)
            .and_where(Expr::col(Articles::Id).eq(id))
            .to_owned();
        manager.exec_stmt(update).await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Authors {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    Id,
    Slug,
    Language,
    Title,
    Subtitle,
    Body,
    Section,
    CommentsEnabled,
    CreateTime,
    Status,
    PublishTime,
    LastPublishTime,
    ScheduledPublishTime,
    HasUnpublishedChanges,
    Revision,
}

#[derive(DeriveIden)]
enum ArticleLive {
    Table,
    ArticleId,
    Title,
    Subtitle,
    Body,
    Section,
    WordCount,
    ReadingTimeMinutes,
    Revision,
}

#[derive(DeriveIden)]
enum ArticleLiveAuthors {
    Table,
    ArticleId,
    AuthorId,
    Position,
}

#[derive(DeriveIden)]
enum ArticleLiveTags {
    Table,
    ArticleId,
    Tag,
    Position,
}

#[derive(DeriveIden)]
enum ArticleRevisions {
    Table,
    ArticleId,
    Revision,
    Action,
    CreateTime,
    ChangedFields,
    Note,
    Status,
    Content,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Sequence,
    EventType,
    OccurTime,
    ArticleId,
    AuthorId,
    Payload,
}
