//! On PostgreSQL, events take their place in the feed as their transaction
//! commits rather than as they are inserted. Migration 6's lock was taken at
//! the insert and held until the commit was visible, so every write's last
//! round trip between server and database (the insert's answer, then COMMIT)
//! ran one write at a time. Here the insert takes a placeholder number and a
//! deferred trigger, which runs inside COMMIT, takes the same lock and gives
//! the event its final number: the writes queue only for work inside the
//! database. Share events, which come in batches of many, still take theirs at
//! the insert: numbering a batch at commit would be a statement per event in
//! the queue, where one round trip for the batch costs less. SQLite
//! serialises writers already and needs nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Whoever draws a final number holds the lock ("news", 0x6e65_7773, as in
/// migration 6 and the integration tests) until its commit is visible, so
/// the next number drawn commits later. A placeholder is never seen: the
/// event is invisible until it commits, and by then it has its final number.
/// The commit-time trigger's WHEN is checked as the row is inserted, so
/// shares never queue at commit. Like any trigger these do not fire under
/// `session_replication_role = replica`: a tool that loads events that way
/// must not run beside live writers (its events would keep numbers drawn
/// without the lock).
pub(crate) const TRIGGERS: &str = "
CREATE FUNCTION newsdesk_number_event_at_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1852143475);
    NEW.sequence := nextval('events_sequence_seq');
    RETURN NEW;
END
$$;
CREATE TRIGGER events_numbered_at_insert
    BEFORE INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type = 'share.recorded')
    EXECUTE FUNCTION newsdesk_number_event_at_insert();

CREATE FUNCTION newsdesk_number_event_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1852143475);
    UPDATE events SET sequence = nextval('events_sequence_seq')
        WHERE sequence = NEW.sequence;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER events_numbered_at_commit
    AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.event_type <> 'share.recorded')
    EXECUTE FUNCTION newsdesk_number_event_at_commit();
";

/// Drops this migration's triggers; migration 6's come back as it made them.
/// Migration 6's trigger, which these replace.
const DROP_MIGRATION_6: &str = "
DROP TRIGGER events_commit_in_sequence_order ON events;
DROP FUNCTION newsdesk_order_event_commits();
";

const DOWN: &str = "
DROP TRIGGER events_numbered_at_commit ON events;
DROP FUNCTION newsdesk_number_event_at_commit();
DROP TRIGGER events_numbered_at_insert ON events;
DROP FUNCTION newsdesk_number_event_at_insert();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DROP_MIGRATION_6).await?;
        crate::on_postgres(manager, TRIGGERS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DOWN).await?;
        crate::on_postgres(
            manager,
            crate::m20261203_000006_order_event_commits_by_trigger::UP,
        )
        .await
    }
}
