//! Readers' input: threaded, moderated comments (with the count of approved
//! ones kept on the article), and shares with their per-channel totals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Articles::Table)
                    .add_column(integer(Articles::CommentCount).default(0).take())
                    .to_owned(),
            )
            .await?;

        // A thread is ordered by its top-level comment's time and id
        // (`thread_time`, `thread_id`), then by `path`: the ancestors' times
        // and ids joined, so that sorting by it lists each comment's replies
        // after it, depth first, oldest first.
        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(text(Comments::Id).primary_key())
                    .col(text(Comments::ArticleId))
                    .col(text_null(Comments::ParentId))
                    .col(integer(Comments::Depth))
                    .col(text(Comments::ThreadId))
                    .col(timestamp_with_time_zone(Comments::ThreadTime))
                    .col(text(Comments::Path))
                    .col(text(Comments::AuthorName))
                    .col(text(Comments::AuthorEmail))
                    .col(text(Comments::AuthorKey))
                    .col(text(Comments::Body))
                    .col(text(Comments::BodyHtml))
                    .col(text(Comments::BodyFingerprint))
                    .col(text(Comments::Status))
                    .col(text(Comments::ModerationReason))
                    .col(timestamp_with_time_zone(Comments::CreateTime))
                    .col(timestamp_with_time_zone(Comments::UpdateTime))
                    .col(timestamp_with_time_zone_null(Comments::DeleteTime))
                    .col(big_integer(Comments::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("comments_article_id_fkey")
                            .from(Comments::Table, Comments::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("comments_parent_id_fkey")
                            .from(Comments::Table, Comments::ParentId)
                            .to(Comments::Table, Comments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "comments_thread_order_idx",
                &[
                    Comments::ArticleId,
                    Comments::ThreadTime,
                    Comments::ThreadId,
                    Comments::Path,
                ][..],
            ),
            (
                "comments_thread_path_idx",
                &[Comments::ThreadId, Comments::Path][..],
            ),
            (
                "comments_status_create_time_idx",
                &[Comments::Status, Comments::CreateTime, Comments::Id][..],
            ),
            (
                "comments_author_key_create_time_idx",
                &[Comments::AuthorKey, Comments::CreateTime][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Comments::Table);
            for column in columns {
                index.col(column.clone());
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Shares::Table)
                    .col(big_pk_auto(Shares::Id))
                    .col(text(Shares::ArticleId))
                    .col(text(Shares::Channel))
                    .col(text_null(Shares::ClientHash))
                    .col(text(Shares::Referrer))
                    .col(timestamp_with_time_zone(Shares::CreateTime))
                    .col(boolean(Shares::Counted))
                    .foreign_key(
                        ForeignKey::create()
                            .name("shares_article_id_fkey")
                            .from(Shares::Table, Shares::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "shares_repeat_idx",
                &[
                    Shares::ArticleId,
                    Shares::Channel,
                    Shares::ClientHash,
                    Shares::CreateTime,
                ][..],
            ),
            (
                "shares_create_time_idx",
                &[Shares::CreateTime, Shares::ArticleId][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Shares::Table);
            for column in columns {
                index.col(column.clone());
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ShareTotals::Table)
                    .col(text(ShareTotals::ArticleId))
                    .col(text(ShareTotals::Channel))
                    .col(big_integer(ShareTotals::Count))
                    .col(timestamp_with_time_zone(ShareTotals::FirstTime))
                    .col(timestamp_with_time_zone(ShareTotals::LastTime))
                    .primary_key(
                        Index::create()
                            .col(ShareTotals::ArticleId)
                            .col(ShareTotals::Channel),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("share_totals_article_id_fkey")
                            .from(ShareTotals::Table, ShareTotals::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ShareTotals::Table.into_iden(),
            Shares::Table.into_iden(),
            Comments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Articles::Table)
                    .drop_column(Articles::CommentCount)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    Id,
    CommentCount,
}

#[derive(DeriveIden, Clone)]
enum Comments {
    Table,
    Id,
    ArticleId,
    ParentId,
    Depth,
    ThreadId,
    ThreadTime,
    Path,
    AuthorName,
    AuthorEmail,
    AuthorKey,
    Body,
    BodyHtml,
    BodyFingerprint,
    Status,
    ModerationReason,
    CreateTime,
    UpdateTime,
    DeleteTime,
    Version,
}

#[derive(DeriveIden, Clone)]
enum Shares {
    Table,
    Id,
    ArticleId,
    Channel,
    ClientHash,
    Referrer,
    CreateTime,
    Counted,
}

#[derive(DeriveIden)]
enum ShareTotals {
    Table,
    ArticleId,
    Channel,
    Count,
    FirstTime,
    LastTime,
}
