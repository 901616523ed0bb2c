//! The statements of a batch of shares: its articles' statuses, its
//! clients' earlier shares, and the writes that store it.
//!
//! On PostgreSQL they carry the batch as JSON values, so that their texts are
//! the same whatever the batch's size and each connection prepares them
//! once: texts that changed with the size missed sqlx's cache of 100
//! statements a connection a third of the time under load, and every miss is
//! a round trip more (two with a full cache). On SQLite each write is a
//! statement a row, one text for any batch; the two lookups are built for
//! each batch (SQLite prepares statements in the writer's own process, and
//! the share thread keeps the sizes that recur).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use migrations::share_repeat_key;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, Statement,
};
use serde::Serialize;

use crate::{
    domain::{
        article::ArticleStatus,
        share::{NewShare, ShareChannel, repeat_window},
    },
    store::{TextRow, encode_json, entities::articles},
};

/// A share of a batch with its key in the repeat index (migration 10), none
/// for a share whose client is unknown: computed once, for the lookup and
/// for the row.
pub(super) struct KeyedShare {
    pub share: NewShare,
    pub repeat_key: Option<i64>,
}

impl KeyedShare {
    pub fn of(share: NewShare) -> Self {
        let repeat_key = share.client_hash.as_deref().map(|client_hash| {
            share_repeat_key(&share.article_id, share.channel.as_str(), client_hash)
        });
        Self { share, repeat_key }
    }
}

/// One share as the batch stores it.
#[derive(Serialize)]
pub(super) struct ShareRow {
    pub article_id: String,
    pub channel: &'static str,
    pub client_hash: Option<String>,
    pub repeat_key: Option<i64>,
    pub referrer: String,
    pub counted: bool,
}

/// An (article, channel, client) key whose earlier counted shares are looked
/// for.
#[derive(Serialize, PartialEq, Eq, Hash)]
struct RepeatLookup<'a> {
    repeat_key: i64,
    article_id: &'a str,
    channel: &'static str,
    client_hash: &'a str,
}

/// A count to add to an article's and channel's total.
#[derive(Serialize)]
struct TotalRow<'a> {
    article_id: &'a str,
    channel: &'static str,
    count: i64,
}

/// The status of each article `batch` shares (`None` for a status this
/// build does not know); an article deleted or never created is missing.
pub(super) async fn article_statuses(
    conn: &impl ConnectionTrait,
    batch: &[KeyedShare],
) -> Result<HashMap<String, Option<ArticleStatus>>, DbErr> {
    let statement = statuses_query(conn.get_database_backend(), batch)?;
    statuses_from(&conn.query_all_raw(statement).await?)
}

/// The query [`article_statuses`] runs.
pub(super) fn statuses_query(backend: DbBackend, batch: &[KeyedShare]) -> Result<Statement, DbErr> {
    let article_ids: HashSet<&str> = batch
        .iter()
        .map(|keyed| keyed.share.article_id.as_str())
        .collect();
    if backend == DbBackend::Postgres {
        let ids = encode_json("a share batch's articles", &article_ids)?;
        // One scan of the primary key's index for the whole array, whatever
        // length the plan, made once for any batch, guesses for it.
        let sql = "SELECT id, status FROM articles \
                   WHERE id = ANY(ARRAY(SELECT json_array_elements_text($1::json))) \
                   AND delete_time IS NULL";
        return Ok(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [ids.into()],
        ));
    }
    Ok(articles::Entity::find()
        .select_only()
        .column(articles::Column::Id)
        .column(articles::Column::Status)
        .filter(articles::Column::Id.is_in(article_ids))
        .filter(articles::Column::DeleteTime.is_null())
        .build(backend))
}

/// [`statuses_query`]'s rows as [`article_statuses`] returns them.
pub(super) fn statuses_from(
    rows: &[impl TextRow],
) -> Result<HashMap<String, Option<ArticleStatus>>, DbErr> {
    rows.iter()
        .map(|row| {
            let status = row.text("status")?;
            Ok((row.text("id")?, ArticleStatus::parse(&status)))
        })
        .collect()
}

/// The (article, channel, client) triples of `batch` whose last counted
/// share falls within the repeat window before `now`. Each triple is looked
/// up on its own in the repeat index: a lookup by article alone would read
/// every share of the article in the window, which under load is hundreds.
pub(super) async fn recent_counted_shares(
    conn: &impl ConnectionTrait,
    batch: &[KeyedShare],
    now: DateTime<Utc>,
) -> Result<HashSet<(String, ShareChannel, String)>, DbErr> {
    match repeats_query(conn.get_database_backend(), batch, now)? {
        Some(statement) => repeats_from(&conn.query_all_raw(statement).await?),
        None => Ok(HashSet::new()),
    }
}

/// The query [`recent_counted_shares`] runs; none if no share names its
/// client.
pub(super) fn repeats_query(
    backend: DbBackend,
    batch: &[KeyedShare],
    now: DateTime<Utc>,
) -> Result<Option<Statement>, DbErr> {
    let keys: HashSet<RepeatLookup<'_>> = batch
        .iter()
        .filter_map(|KeyedShare { share, repeat_key }| {
            Some(RepeatLookup {
                repeat_key: (*repeat_key)?,
                article_id: &share.article_id,
                channel: share.channel.as_str(),
                client_hash: share.client_hash.as_deref()?,
            })
        })
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let since = now - repeat_window();
    // Both look the key up in the repeat index (which holds counted shares
    // only) and compare the triple with the row's: two triples may share a
    // key.
    let statement = match backend {
        // PostgreSQL plans the statement once for any batch (with a guess of
        // 100 keys), and a plain join then reads every share in the window;
        // the lateral LIMIT keeps it to one index probe a key.
        DbBackend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT b.article_id, b.channel, b.client_hash \
             FROM json_to_recordset($1::json) \
             AS b(repeat_key bigint, article_id text, channel text, client_hash text) \
             CROSS JOIN LATERAL (SELECT FROM shares s WHERE s.repeat_key = b.repeat_key \
             AND s.counted AND s.create_time > $2 AND s.article_id = b.article_id \
             AND s.channel = b.channel AND s.client_hash = b.client_hash LIMIT 1) AS earlier",
            [
                encode_json("a share batch's clients", &keys)?.into(),
                since.into(),
            ],
        ),
        backend => {
            let mut values: Vec<sea_orm::Value> = Vec::with_capacity(keys.len() * 4 + 1);
            for key in &keys {
                values.extend([
                    key.repeat_key.into(),
                    key.article_id.into(),
                    key.channel.into(),
                    key.client_hash.into(),
                ]);
            }
            values.push(since.into());
            // SQLite binds anonymous `?` placeholders in order.
            let rows = vec!["(?, ?, ?, ?)"; keys.len()].join(", ");
            let sql = format!(
                "WITH batch (repeat_key, article_id, channel, client_hash) AS (VALUES {rows}) \
                 SELECT s.article_id, s.channel, s.client_hash FROM batch b \
                 JOIN shares s ON s.repeat_key = b.repeat_key \
                 WHERE s.counted AND s.create_time > ? AND s.article_id = b.article_id \
                 AND s.channel = b.channel AND s.client_hash = b.client_hash"
            );
            Statement::from_sql_and_values(backend, sql, values)
        }
    };
    Ok(Some(statement))
}

/// [`repeats_query`]'s rows as [`recent_counted_shares`] returns them.
pub(super) fn repeats_from(
    rows: &[impl TextRow],
) -> Result<HashSet<(String, ShareChannel, String)>, DbErr> {
    let mut recent = HashSet::new();
    for row in rows {
        let channel = row.text("channel")?;
        if let Some(channel) = ShareChannel::parse(&channel) {
            recent.insert((row.text("article_id")?, channel, row.text("client_hash")?));
        }
    }
    Ok(recent)
}

/// The statements that store a batch's shares and add its counts to their
/// totals (taking the totals' row locks in `totals`' order); none when no
/// share is stored. On PostgreSQL they are one statement, the totals' upsert
/// a CTE of the shares' insert (a round trip fewer while the batch holds its
/// turn); on SQLite, where they run in the writer's own process, one a row.
pub(super) fn batch_writes(
    backend: DbBackend,
    rows: Vec<ShareRow>,
    totals: BTreeMap<(String, &'static str), i64>,
    now: DateTime<Utc>,
) -> Result<Vec<Statement>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if backend == DbBackend::Postgres {
        let totals: Vec<TotalRow<'_>> = totals
            .iter()
            .map(|((article_id, channel), &count)| TotalRow {
                article_id,
                channel,
                count,
            })
            .collect();
        let sql = "WITH totals AS ( \
             INSERT INTO share_totals (article_id, channel, count, first_time, last_time) \
             SELECT t.article_id, t.channel, t.count, $3, $3 \
             FROM ROWS FROM (json_to_recordset($2::json) \
             AS (article_id text, channel text, count bigint)) \
             WITH ORDINALITY AS t(article_id, channel, count, n) \
             ORDER BY t.n \
             ON CONFLICT (article_id, channel) DO UPDATE \
             SET count = share_totals.count + excluded.count, last_time = excluded.last_time) \
             INSERT INTO shares (article_id, channel, client_hash, repeat_key, referrer, \
             create_time, counted) \
             SELECT s.article_id, s.channel, s.client_hash, s.repeat_key, s.referrer, $3, s.counted \
             FROM json_to_recordset($1::json) AS s(article_id text, channel text, \
             client_hash text, repeat_key bigint, referrer text, counted boolean)";
        return Ok(vec![Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                encode_json("a share batch", &rows)?.into(),
                encode_json("a share batch's totals", &totals)?.into(),
                now.into(),
            ],
        )]);
    }
    // One statement a row, each text the same for any batch (see
    // `SQLITE_EVENT_INSERT` in `store::events`).
    let mut writes = Vec::with_capacity(rows.len() + totals.len());
    for row in rows {
        writes.push(Statement::from_sql_and_values(
            backend,
            SQLITE_SHARE_INSERT,
            [
                row.article_id.into(),
                row.channel.into(),
                row.client_hash.into(),
                row.repeat_key.into(),
                row.referrer.into(),
                now.into(),
                row.counted.into(),
            ],
        ));
    }
    for ((article_id, channel), count) in totals {
        writes.push(Statement::from_sql_and_values(
            backend,
            SQLITE_TOTAL_UPSERT,
            [
                article_id.into(),
                channel.into(),
                count.into(),
                now.into(),
                now.into(),
            ],
        ));
    }
    Ok(writes)
}

/// On SQLite, a share's row.
const SQLITE_SHARE_INSERT: &str = "INSERT INTO shares \
     (article_id, channel, client_hash, repeat_key, referrer, create_time, counted) \
     VALUES (?, ?, ?, ?, ?, ?, ?)";

/// On SQLite, a count added to its article's and channel's total.
const SQLITE_TOTAL_UPSERT: &str = "INSERT INTO share_totals \
     (article_id, channel, count, first_time, last_time) VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (article_id, channel) DO UPDATE \
     SET count = share_totals.count + excluded.count, last_time = excluded.last_time";

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    use super::{KeyedShare, repeats_query};
    use crate::domain::{
        access::Actor,
        share::{NewShare, ShareChannel},
    };

    /// The repeat index is partial: a lookup that does not imply its
    /// condition would read the whole table instead, as fast in a test and
    /// thousands of times slower under load.
    #[tokio::test]
    async fn the_repeat_lookup_probes_the_repeat_index_on_sqlite() {
        let db = Database::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        Migrator::up(&db, None).await.expect("migrate");
        let batch: Vec<KeyedShare> = ["browser-1", "browser-2"]
            .into_iter()
            .map(|client| {
                KeyedShare::of(
                    NewShare::new(
                        "an-article".into(),
                        ShareChannel::WhatsApp,
                        client,
                        "",
                        Actor::anonymous(),
                    )
                    .expect("a valid share"),
                )
            })
            .collect();
        let lookup = repeats_query(DbBackend::Sqlite, &batch, Utc::now())
            .expect("build the lookup")
            .expect("clients to look up");
        let plan = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", lookup.sql),
                lookup.values.map(|values| values.0).unwrap_or_default(),
            ))
            .await
            .expect("explain the lookup");
        let steps: Vec<String> = plan
            .iter()
            .map(|step| step.try_get::<String>("", "detail").expect("a step"))
            .collect();
        assert!(
            steps.iter().any(|step| step
                == "SEARCH s USING INDEX shares_repeat_key_idx (repeat_key=? AND create_time>?)"),
            "the lookup's plan: {steps:?}"
        );
    }
}
