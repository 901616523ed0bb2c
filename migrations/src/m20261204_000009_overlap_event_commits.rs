//! On PostgreSQL, writes' commits overlap again, and readers of the event
//! log stop where every event is settled.
//!
//! Migration 7 numbered each event inside COMMIT under an exclusive lock
//! held until the commit was visible, so that sequence order was commit
//! order. That made every commit wait for the one before it to reach the
//! disk: one WAL flush per write, one after another, which held comments
//! near 1,700/s on the benchmark's host; and numbering inside COMMIT wrote
//! each event's row twice (the placeholder, then the number).
//!
//! Now every event takes its number as it is inserted, under the same lock
//! taken shared, which writers never wait on among themselves, and holds it
//! until its transaction has ended, as before. A reader asks
//! `newsdesk_settled_event_sequence()`, which takes the lock exclusively for
//! an instant: no writer then holds a number it has not made visible, so
//! every number drawn so far belongs to a transaction that has ended, and
//! the sequence's last value is a point up to which the log is complete and
//! final. Numbers drawn after it are higher. Readers read up to that point
//! only (`Store::last_event_sequence`), so none pages past an event that
//! commits later. A reader waits at most for the writes that have inserted
//! their events to end (their last statements and commits).
//!
//! This holds while the sequence hands out numbers one at a time (CACHE 1,
//! as created), and while the trigger fires: a tool that loads events with
//! `session_replication_role = replica` must not run beside live writers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The lock's key is "news" (0x6e65_7773), as in migrations 6 and 7 and the
/// integration tests. The column's default draws a number before the
/// trigger draws the event's own: that one is never seen. The reader's
/// function reads the sequence after the lock is held; it is called outside
/// any transaction of the caller's, so the lock goes with the call's own.
const UP: &str = "
DROP TRIGGER events_numbered_at_commit ON events;
DROP FUNCTION newsdesk_number_event_at_commit();
DROP TRIGGER events_numbered_at_insert ON events;

CREATE OR REPLACE FUNCTION newsdesk_number_event_at_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1852143475);
    NEW.sequence := nextval('events_sequence_seq');
    RETURN NEW;
END
$$;
CREATE TRIGGER events_numbered_at_insert
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION newsdesk_number_event_at_insert();

CREATE FUNCTION newsdesk_settled_event_sequence() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    drawn bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1852143475);
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO drawn
        FROM events_sequence_seq;
    RETURN drawn;
END
$$;
";

/// Before migration 7's triggers come back as it made them.
const DOWN: &str = "
DROP FUNCTION newsdesk_settled_event_sequence();
DROP TRIGGER events_numbered_at_insert ON events;
DROP FUNCTION newsdesk_number_event_at_insert();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DOWN).await?;
        crate::on_postgres(
            manager,
            crate::m20261203_000007_number_events_at_commit::TRIGGERS,
        )
        .await
    }
}
