//! A client's repeat share is found by an integer key instead of by its
//! article, channel and client.
//!
//! The repeat index held (article id, channel, client hash, time): about 150
//! bytes an entry, some 25 entries a 4 KB page. Every share inserts one entry
//! at a random place in it, so on SQLite, whose commits write whole pages to
//! the log, it was about half of every share batch's pages (40-48 of 87 a
//! commit under load), splits included. Its entries are now a 64-bit key
//! derived from the three ([`share_repeat_key`]) and the time, three times as
//! many a page; the lookup still compares the three with the row's, so two
//! triples that share a key are never taken for each other. The index holds
//! only the counted shares of known clients, the only ones the lookup asks
//! for.
//!
//! Shares are never deleted but with their article, and articles are only
//! ever marked deleted, so the foreign key's cascade, which the old index
//! (article id first) served, has no rows to find.
//!
//! Every server stops before this migration runs: one still running the
//! build before it would store shares without their key, which the new
//! lookup does not find, and look repeats up without the index it knew.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_INDEX: &str = "shares_repeat_idx";
const INDEX: &str = "shares_repeat_key_idx";

/// Partial: anonymous shares and repeats are never looked for. A query's
/// `repeat_key = ?` implies the key is not null, so it can use the index
/// once it also says `counted`.
const CREATE_INDEX: &str = "CREATE INDEX shares_repeat_key_idx ON shares (repeat_key, create_time) \
     WHERE counted AND repeat_key IS NOT NULL";

/// How far back the migration keys the shares already stored: the repeat
/// window is ten minutes (with room for clocks that disagree); older shares
/// are never looked for again.
const KEYED_SINCE_MINUTES: i64 = 20;

/// The repeat key of a share of `article_id` on `channel` by the client
/// whose hash is `client_hash`: the first eight bytes of a SHA-256 of the
/// three. Stored keys must keep meaning the same triple, so this function
/// never changes.
pub fn share_repeat_key(article_id: &str, channel: &str, client_hash: &str) -> i64 {
    let mut hasher = Sha256::new();
    for part in [article_id, channel, client_hash] {
        // Each part's length first, so that no two triples hash the same
        // bytes.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: the keys' updates commit together
    /// (one sync, not one a share), and a migration stopped halfway leaves
    /// no column behind for the next start to trip on.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Shares::Table)
                    .add_column(ColumnDef::new(Shares::RepeatKey).big_integer().null())
                    .to_owned(),
            )
            .await?;
        key_recent_shares(manager).await?;
        let conn = manager.get_connection();
        conn.execute_unprepared(CREATE_INDEX).await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_INDEX)
                    .table(Shares::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD_INDEX)
                    .table(Shares::Table)
                    .col(Shares::ArticleId)
                    .col(Shares::Channel)
                    .col(Shares::ClientHash)
                    .col(Shares::CreateTime)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(INDEX).table(Shares::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Shares::Table)
                    .drop_column(Shares::RepeatKey)
                    .to_owned(),
            )
            .await
    }
}

/// Sets the key of the shares of known clients recorded lately, which a
/// repeat may still be checked against.
async fn key_recent_shares(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let since = chrono::Utc::now() - chrono::Duration::minutes(KEYED_SINCE_MINUTES);
    let recent = Query::select()
        .columns([
            Shares::Id,
            Shares::ArticleId,
            Shares::Channel,
            Shares::ClientHash,
        ])
        .from(Shares::Table)
        .and_where(Expr::col(Shares::ClientHash).is_not_null())
        .and_where(Expr::col(Shares::CreateTime).gt(since))
        .to_owned();
    for row in conn.query_all(&recent).await? {
        let id: i64 = row.try_get("", "id")?;
        let article_id: String = row.try_get("", "article_id")?;
        let channel: String = row.try_get("", "channel")?;
        let client_hash: String = row.try_get("", "client_hash")?;
        let key = share_repeat_key(&article_id, &channel, &client_hash);
        let update = Query::update()
            .table(Shares::Table)
            .value(Shares::RepeatKey, key)
            .and_where(Expr::col(Shares::Id).eq(id))
            .to_owned();
        conn.execute(&update).await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    ArticleId,
    Channel,
    ClientHash,
    CreateTime,
    RepeatKey,
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::sea_orm::{ConnectionTrait, Database};

    use super::*;
    use crate::Migrator;

    /// The first eight bytes of SHA-256 over each part's length (8 bytes, big
    /// endian) and bytes, as computed apart from this crate.
    const PINNED_KEY: i64 = -2_571_873_478_318_516_916;

    /// Shares stored before the migration: (id, client hash, minutes ago).
    const STORED: [(i64, Option<&str>, i64); 3] =
        [(1, Some("recent"), 5), (2, Some("old"), 30), (3, None, 5)];

    #[tokio::test]
    async fn the_migration_keys_recent_shares_of_known_clients_and_goes_back_down() {
        let db = Database::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        Migrator::up(&db, Some(9)).await.expect("migrate to 9");
        // The shares' article is beside the point here.
        db.execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .expect("foreign keys off");
        for (id, client_hash, minutes_ago) in STORED {
            let insert = Query::insert()
                .into_table(Shares::Table)
                .columns([
                    Shares::Id.into_iden(),
                    Shares::ArticleId.into_iden(),
                    Shares::Channel.into_iden(),
                    Shares::ClientHash.into_iden(),
                    Alias::new("referrer").into_iden(),
                    Shares::CreateTime.into_iden(),
                    Alias::new("counted").into_iden(),
                ])
                .values_panic([
                    id.into(),
                    "an-article".into(),
                    "x".into(),
                    client_hash.into(),
                    "".into(),
                    (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)).into(),
                    true.into(),
                ])
                .to_owned();
            db.execute(&insert).await.expect("store a share");
        }

        Migrator::up(&db, None).await.expect("migrate to the last");
        let keys = Query::select()
            .columns([Shares::Id, Shares::RepeatKey])
            .from(Shares::Table)
            .order_by(Shares::Id, Order::Asc)
            .to_owned();
        let keyed: Vec<(i64, Option<i64>)> = db
            .query_all(&keys)
            .await
            .expect("read the keys")
            .iter()
            .map(|row| {
                (
                    row.try_get("", "id").expect("id"),
                    row.try_get("", "repeat_key").expect("repeat_key"),
                )
            })
            .collect();
        assert_eq!(
            keyed,
            [
                (1, Some(share_repeat_key("an-article", "x", "recent"))),
                (2, None),
                (3, None)
            ]
        );

        Migrator::down(&db, Some(1))
            .await
            .expect("migrate down one");
        let manager = SchemaManager::new(&db);
        assert!(
            !manager
                .has_column("shares", "repeat_key")
                .await
                .expect("look at the columns"),
            "the key's column is still there"
        );
        assert!(
            manager
                .has_index("shares", OLD_INDEX)
                .await
                .expect("look at the indexes"),
            "the old index is not back"
        );
        Migrator::up(&db, None).await.expect("migrate up again");
    }

    #[test]
    fn a_key_never_changes_and_depends_on_where_each_part_ends() {
        // Keys are stored: a change to the function would let every repeat
        // within the window count again.
        assert_eq!(share_repeat_key("a", "x", "c"), PINNED_KEY);
        assert_ne!(
            share_repeat_key("ab", "x", "c"),
            share_repeat_key("a", "bx", "c")
        );
    }
}
