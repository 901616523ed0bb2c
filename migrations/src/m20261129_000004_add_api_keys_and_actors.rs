//! Who may do what, and who did what: API keys (stored only as hashes of
//! their tokens), and the actor recorded on revisions, events and moderation
//! decisions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(text(ApiKeys::Id).primary_key())
                    .col(text(ApiKeys::Name))
                    .col(text(ApiKeys::Role))
                    .col(text_null(ApiKeys::AuthorId))
                    .col(text_uniq(ApiKeys::TokenHash))
                    .col(text(ApiKeys::Creator))
                    .col(timestamp_with_time_zone(ApiKeys::CreateTime))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokeTime))
                    // A writer's key whose author is deleted reaches nothing.
                    .foreign_key(
                        ForeignKey::create()
                            .name("api_keys_author_id_fkey")
                            .from(ApiKeys::Table, ApiKeys::AuthorId)
                            .to(Authors::Table, Authors::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for (table, column) in [
            (
                ArticleRevisions::Table.into_iden(),
                Actor::Actor.into_iden(),
            ),
            (Events::Table.into_iden(), Actor::Actor.into_iden()),
            (Comments::Table.into_iden(), Actor::Moderator.into_iden()),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text(column).default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            (
                ArticleRevisions::Table.into_iden(),
                Actor::Actor.into_iden(),
            ),
            (Events::Table.into_iden(), Actor::Actor.into_iden()),
            (Comments::Table.into_iden(), Actor::Moderator.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Role,
    AuthorId,
    TokenHash,
    Creator,
    CreateTime,
    RevokeTime,
}

#[derive(DeriveIden)]
enum Authors {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ArticleRevisions {
    Table,
}

#[derive(DeriveIden)]
enum Events {
    Table,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
}

#[derive(DeriveIden)]
enum Actor {
    Actor,
    Moderator,
}
