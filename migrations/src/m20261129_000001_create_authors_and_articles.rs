//! Authors, articles, their bylines and tags, and the idempotency keys that make
//! Create retries safe.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Authors::Table)
                    .col(text(Authors::Id).primary_key())
                    .col(text(Authors::DisplayName))
                    .col(text_uniq(Authors::Slug))
                    .col(text(Authors::Kind))
                    .col(text(Authors::Bio))
                    .col(text(Authors::Email))
                    .col(timestamp_with_time_zone(Authors::CreateTime))
                    .col(timestamp_with_time_zone(Authors::UpdateTime))
                    .col(big_integer(Authors::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("authors_kind_id_idx")
                    .table(Authors::Table)
                    .col(Authors::Kind)
                    .col(Authors::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Articles::Table)
                    .col(text(Articles::Id).primary_key())
                    .col(text(Articles::Slug))
                    .col(text(Articles::Language))
                    .col(text(Articles::Title))
                    .col(text(Articles::Subtitle))
                    .col(text(Articles::Body))
                    .col(text(Articles::Section))
                    .col(text(Articles::Status))
                    .col(boolean(Articles::CommentsEnabled))
                    .col(integer(Articles::WordCount))
                    .col(integer(Articles::ReadingTimeMinutes))
                    .col(timestamp_with_time_zone(Articles::CreateTime))
                    .col(timestamp_with_time_zone(Articles::UpdateTime))
                    .col(timestamp_with_time_zone_null(Articles::DeleteTime))
                    .col(big_integer(Articles::Version))
                    .to_owned(),
            )
            .await?;
        // Slugs are unique per language, deleted articles included: a deleted
        // article keeps its permalink so that undelete can bring it back.
        manager
            .create_index(
                Index::create()
                    .name("articles_language_slug_key")
                    .table(Articles::Table)
                    .col(Articles::Language)
                    .col(Articles::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One index per list order, and one per equality filter followed by
        // the default order, so that every keyset page is an index range scan.
        for (name, columns) in [
            (
                "articles_create_time_id_idx",
                &[Articles::CreateTime, Articles::Id][..],
            ),
            (
                "articles_update_time_id_idx",
                &[Articles::UpdateTime, Articles::Id][..],
            ),
            (
                "articles_section_create_time_idx",
                &[Articles::Section, Articles::CreateTime, Articles::Id][..],
            ),
            (
                "articles_language_create_time_idx",
                &[Articles::Language, Articles::CreateTime, Articles::Id][..],
            ),
            (
                "articles_status_create_time_idx",
                &[Articles::Status, Articles::CreateTime, Articles::Id][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Articles::Table);
            for column in columns {
                index.col(column.clone());
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ArticleAuthors::Table)
                    .col(text(ArticleAuthors::ArticleId))
                    .col(text(ArticleAuthors::AuthorId))
                    .col(integer(ArticleAuthors::Position))
                    .primary_key(
                        Index::create()
                            .col(ArticleAuthors::ArticleId)
                            .col(ArticleAuthors::AuthorId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("article_authors_article_id_fkey")
                            .from(ArticleAuthors::Table, ArticleAuthors::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // Restrict: an author still credited anywhere cannot be
                    // deleted, so no byline is ever orphaned.
                    .foreign_key(
                        ForeignKey::create()
                            .name("article_authors_author_id_fkey")
                            .from(ArticleAuthors::Table, ArticleAuthors::AuthorId)
                            .to(Authors::Table, Authors::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("article_authors_author_id_idx")
                    .table(ArticleAuthors::Table)
                    .col(ArticleAuthors::AuthorId)
                    .col(ArticleAuthors::ArticleId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ArticleTags::Table)
                    .col(text(ArticleTags::ArticleId))
                    .col(text(ArticleTags::Tag))
                    .col(integer(ArticleTags::Position))
                    .primary_key(
                        Index::create()
                            .col(ArticleTags::ArticleId)
                            .col(ArticleTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("article_tags_article_id_fkey")
                            .from(ArticleTags::Table, ArticleTags::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("article_tags_tag_idx")
                    .table(ArticleTags::Table)
                    .col(ArticleTags::Tag)
                    .col(ArticleTags::ArticleId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RequestIds::Table)
                    .col(text(RequestIds::Scope))
                    .col(text(RequestIds::RequestId))
                    .col(text(RequestIds::ResourceId))
                    .col(timestamp_with_time_zone(RequestIds::CreateTime))
                    .primary_key(
                        Index::create()
                            .col(RequestIds::Scope)
                            .col(RequestIds::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RequestIds::Table.into_iden(),
            ArticleTags::Table.into_iden(),
            ArticleAuthors::Table.into_iden(),
            Articles::Table.into_iden(),
            Authors::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Authors {
    Table,
    Id,
    DisplayName,
    Slug,
    Kind,
    Bio,
    Email,
    CreateTime,
    UpdateTime,
    Version,
}

#[derive(DeriveIden, Clone)]
enum Articles {
    Table,
    Id,
    Slug,
    Language,
    Title,
    Subtitle,
    Body,
    Section,
    Status,
    CommentsEnabled,
    WordCount,
    ReadingTimeMinutes,
    CreateTime,
    UpdateTime,
    DeleteTime,
    Version,
}

#[derive(DeriveIden)]
enum ArticleAuthors {
    Table,
    ArticleId,
    AuthorId,
    Position,
}

#[derive(DeriveIden)]
enum ArticleTags {
    Table,
    ArticleId,
    Tag,
    Position,
}

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    Scope,
    RequestId,
    ResourceId,
    CreateTime,
}
