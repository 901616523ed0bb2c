//! newsdesk's database schema. The schema changes only through these migrations,
//! which the server runs at start-up and the `migrations` binary runs by hand.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_authors_and_articles;
mod m20261129_000002_add_workflow_revisions_and_events;
mod m20261129_000003_add_comments_and_shares;
mod m20261129_000004_add_api_keys_and_actors;
mod m20261201_000005_drop_the_event_article_index;
mod m20261203_000006_order_event_commits_by_trigger;
mod m20261203_000007_number_events_at_commit;
mod m20261204_000008_check_commenters_in_one_round_trip;
mod m20261204_000009_overlap_event_commits;
mod m20261205_000010_find_repeat_shares_by_key;

pub use m20261205_000010_find_repeat_shares_by_key::share_repeat_key;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_authors_and_articles::Migration),
            Box::new(m20261129_000002_add_workflow_revisions_and_events::Migration),
            Box::new(m20261129_000003_add_comments_and_shares::Migration),
            Box::new(m20261129_000004_add_api_keys_and_actors::Migration),
            Box::new(m20261201_000005_drop_the_event_article_index::Migration),
            Box::new(m20261203_000006_order_event_commits_by_trigger::Migration),
            Box::new(m20261203_000007_number_events_at_commit::Migration),
            Box::new(m20261204_000008_check_commenters_in_one_round_trip::Migration),
            Box::new(m20261204_000009_overlap_event_commits::Migration),
            Box::new(m20261205_000010_find_repeat_shares_by_key::Migration),
        ]
    }
}

/// Runs `sql` on PostgreSQL and nothing on SQLite: for the triggers that
/// order the event log and the function that checks a commenter, which
/// SQLite's single writer does not need.
async fn on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
