//! On PostgreSQL, the advisory lock that makes events commit in sequence
//! order is taken by a trigger on the event log rather than by a statement
//! of its own. The lock is held from the event's insert until the commit is
//! durable, and writes queue for it one at a time; as a separate statement it
//! added a round trip between server and database to that queue's every turn.
//! The trigger also orders an insert that forgot to take the lock. SQLite
//! serialises writers already and needs nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Runs before the statement's rows are formed, so before their sequence
/// numbers are drawn: whoever draws a number holds the lock until its commit
/// is visible, and whoever draws the next one commits later. The key is the
/// one the server took before this migration ("news", 0x6e65_7773; the
/// integration tests take it too). Like any trigger it does not fire under
/// `session_replication_role = replica`: a tool that loads events that way
/// must not run beside live writers.
pub(crate) const UP: &str = "
CREATE FUNCTION newsdesk_order_event_commits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1852143475);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_commit_in_sequence_order
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION newsdesk_order_event_commits();
";

const DOWN: &str = "
DROP TRIGGER events_commit_in_sequence_order ON events;
DROP FUNCTION newsdesk_order_event_commits();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DOWN).await
    }
}
