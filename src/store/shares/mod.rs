//! Shares in the database. Shares are the busiest write in the service, so
//! they are written a batch at a time: one transaction records many shares,
//! their totals and their events, and one commit makes them all durable.
//!
//! On PostgreSQL a batch's statements carry its shares as JSON values, so
//! that their texts are the same whatever the batch's size and each
//! connection prepares them once: texts that changed with the size missed
//! sqlx's cache of 100 statements a connection a third of the time under
//! load, and every miss is a round trip more (two with a full cache).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, Statement,
    sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query},
};
use serde::Serialize;

use super::{
    Store,
    entities::{article_live, articles, share_totals, shares},
    events::{ChangeWrites, NewEvent, execute_then_append},
};
use crate::{
    domain::{
        article::{Article, ArticleStatus, ArticleView},
        event::{EventPayload, SHARE_RECORDED},
        share::{NewShare, ShareChannel, ShareOutcome, ShareRecord, ShareStats, repeat_window},
    },
    error::Error,
};

/// Key of the PostgreSQL advisory lock share batches take turns on ("shar").
const SHARE_BATCH_LOCK: i64 = 0x7368_6172;

/// The result of one share in a batch: recorded (counted or not), or
/// refused on its own without failing the others.
pub type ShareResult = Result<ShareOutcome, Error>;

impl Store {
    /// Records `batch` in one transaction and returns each share's outcome,
    /// in order. A share of an article that is not published is refused on
    /// its own; if the transaction fails, every share in it fails, and none
    /// was recorded.
    pub async fn record_shares(&self, batch: Vec<NewShare>) -> Result<Vec<ShareResult>, Error> {
        let txn = self.begin_write().await?;
        // Whether a share counts depends on the shares before it: batches from
        // several server processes must not both count the same repeat. On
        // PostgreSQL they take turns (SQLite's writers always do).
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SHARE_BATCH_LOCK})"))
                .await?;
        }
        let now = self.now();
        let statuses = article_statuses(&txn, &batch).await?;
        let mut counted_recently = recent_counted_shares(&txn, &batch, now).await?;

        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        // Sorted, so that every batch locks the totals' rows in one order.
        let mut totals: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        let mut records = Vec::new();
        for share in batch {
            match statuses.get(&share.article_id) {
                None => {
                    outcomes.push(Err(Error::NotFound(format!(
                        "article {} does not exist",
                        share.article_id
                    ))));
                    continue;
                }
                Some(Some(ArticleStatus::Published)) => {}
                Some(_) => {
                    outcomes.push(Err(Error::FailedPrecondition {
                        kind: "NOT_PUBLISHED",
                        subject: format!("articles/{}", share.article_id),
                        description: "only a published article can be shared".into(),
                    }));
                    continue;
                }
            }
            // A client's repeat within the window counts once, whether the
            // earlier share is stored already or earlier in this batch.
            let counted = match &share.client_hash {
                None => true,
                Some(hash) => {
                    counted_recently.insert((share.article_id.clone(), share.channel, hash.clone()))
                }
            };
            if counted {
                *totals
                    .entry((share.article_id.clone(), share.channel.as_str()))
                    .or_insert(0) += 1;
            }
            records.push((
                ShareRecord {
                    article_id: share.article_id.clone(),
                    channel: share.channel,
                    time: now,
                    counted,
                },
                share.actor,
            ));
            rows.push(ShareRow {
                article_id: share.article_id,
                channel: share.channel.as_str(),
                client_hash: share.client_hash,
                referrer: share.referrer,
                counted,
            });
            outcomes.push(Ok(ShareOutcome { counted, time: now }));
        }
        // Not folded into the events' insert (see `ChangeWrites::apart`):
        // share events take their numbers, and the lock that orders every
        // writer's events, at that insert, and PostgreSQL runs a statement's
        // write CTEs after its main insert, so the lock would be held while
        // the batch's shares and totals are written.
        let writes = batch_writes(txn.get_database_backend(), rows, totals, now)?;
        let events: Vec<_> = records
            .iter()
            .map(|(record, actor)| NewEvent {
                event_type: SHARE_RECORDED,
                occur_time: now,
                payload: EventPayload::Share(record.clone()),
                actor,
            })
            .collect();
        execute_then_append(&txn, ChangeWrites::in_order(writes), &events).await?;
        txn.commit().await?;
        Ok(outcomes)
    }

    /// An article's share counts; NOT_FOUND unless readers can see it.
    pub async fn share_stats(&self, article_id: &str) -> Result<ShareStats, Error> {
        self.find_article(article_id, ArticleView::Published, false)
            .await?;
        let mut stats = ShareStats::default();
        let rows = share_totals::Entity::find()
            .filter(share_totals::Column::ArticleId.eq(article_id))
            .order_by_asc(share_totals::Column::Channel)
            .all(&self.db)
            .await?;
        for row in rows {
            let channel = ShareChannel::parse(&row.channel).ok_or_else(|| {
                Error::Internal(format!(
                    "a share total has the unknown channel `{}`",
                    row.channel
                ))
            })?;
            stats.total += row.count;
            stats.by_channel.push((channel, row.count));
            stats.first_share_time = Some(match stats.first_share_time {
                Some(first) => Ord::min(first, row.first_time),
                None => row.first_time,
            });
            stats.last_share_time = Some(match stats.last_share_time {
                Some(last) => Ord::max(last, row.last_time),
                None => row.last_time,
            });
        }
        stats.by_channel.sort_by_key(|(channel, _)| {
            ShareChannel::ALL.iter().position(|known| known == channel)
        });
        Ok(stats)
    }

    /// The `limit` published articles with the most counted shares since
    /// `since` (in `section` and `language`, as readers see them, when given),
    /// with their counts, most shared first.
    pub async fn top_shared(
        &self,
        since: DateTime<Utc>,
        section: Option<&str>,
        language: Option<&str>,
        limit: u64,
    ) -> Result<Vec<(Article, i64)>, Error> {
        let count = Expr::col((shares::Entity, shares::Column::Id)).count();
        let mut query = Query::select()
            .column((shares::Entity, shares::Column::ArticleId))
            .expr_as(count.clone(), Alias::new("shares"))
            .from(shares::Entity)
            .inner_join(
                articles::Entity,
                Expr::col((articles::Entity, articles::Column::Id))
                    .equals((shares::Entity, shares::Column::ArticleId)),
            )
            .and_where(Expr::col((shares::Entity, shares::Column::Counted)).eq(true))
            .and_where(Expr::col((shares::Entity, shares::Column::CreateTime)).gte(since))
            .and_where(
                Expr::col((articles::Entity, articles::Column::Status))
                    .eq(ArticleStatus::Published.as_str()),
            )
            .and_where(Expr::col((articles::Entity, articles::Column::DeleteTime)).is_null())
            .group_by_col((shares::Entity, shares::Column::ArticleId))
            .order_by_expr(count, sea_orm::Order::Desc)
            .order_by(
                (shares::Entity, shares::Column::ArticleId),
                sea_orm::Order::Asc,
            )
            .limit(limit)
            .to_owned();
        if let Some(language) = language {
            query.and_where(Expr::col((articles::Entity, articles::Column::Language)).eq(language));
        }
        if let Some(section) = section {
            query.inner_join(
                article_live::Entity,
                Expr::col((article_live::Entity, article_live::Column::ArticleId))
                    .equals((shares::Entity, shares::Column::ArticleId)),
            );
            query.and_where(
                Expr::col((article_live::Entity, article_live::Column::Section)).eq(section),
            );
        }
        let mut ranked = Vec::new();
        for row in self.db.query_all(&query).await? {
            let article_id: String = row.try_get("", "article_id")?;
            let count: i64 = row.try_get("", "shares")?;
            ranked.push((article_id, count));
        }
        let mut top = Vec::with_capacity(ranked.len());
        for (article_id, count) in ranked {
            // An article withdrawn since the ranking was read is skipped.
            match self
                .find_article(&article_id, ArticleView::Published, false)
                .await
            {
                Ok(article) => top.push((article, count)),
                Err(Error::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(top)
    }
}

/// One share as the batch stores it.
#[derive(Serialize)]
struct ShareRow {
    article_id: String,
    channel: &'static str,
    client_hash: Option<String>,
    referrer: String,
    counted: bool,
}

/// A client's (article, channel) pair to look for earlier shares of.
#[derive(Serialize)]
struct RepeatKey<'a> {
    article_id: &'a str,
    channel: &'a str,
    client_hash: &'a str,
}

fn repeat_keys<'a>(triples: &HashSet<(&'a str, &'a str, &'a str)>) -> Vec<RepeatKey<'a>> {
    triples
        .iter()
        .map(|&(article_id, channel, client_hash)| RepeatKey {
            article_id,
            channel,
            client_hash,
        })
        .collect()
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
async fn article_statuses(
    conn: &impl ConnectionTrait,
    batch: &[NewShare],
) -> Result<HashMap<String, Option<ArticleStatus>>, DbErr> {
    let article_ids: HashSet<&str> = batch
        .iter()
        .map(|share| share.article_id.as_str())
        .collect();
    let rows: Vec<(String, String)> = if conn.get_database_backend() == DbBackend::Postgres {
        let ids = to_json(&article_ids)?;
        let sql = "SELECT id, status FROM articles \
                   WHERE id = ANY(ARRAY(SELECT json_array_elements_text($1::json))) \
                   AND delete_time IS NULL";
        conn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [ids.into()],
        ))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "status")?)))
        .collect::<Result<_, DbErr>>()?
    } else {
        articles::Entity::find()
            .select_only()
            .column(articles::Column::Id)
            .column(articles::Column::Status)
            .filter(articles::Column::Id.is_in(article_ids))
            .filter(articles::Column::DeleteTime.is_null())
            .into_tuple()
            .all(conn)
            .await?
    };
    Ok(rows
        .into_iter()
        .map(|(id, status)| {
            let status = ArticleStatus::parse(&status);
            (id, status)
        })
        .collect())
}

/// The (article, channel, client) triples of `batch` whose last counted
/// share falls within the repeat window before `now`. Each triple is looked
/// up on its own in the repeat index: a lookup by article alone would read
/// every share of the article in the window, which under load is hundreds.
async fn recent_counted_shares(
    conn: &impl ConnectionTrait,
    batch: &[NewShare],
    now: DateTime<Utc>,
) -> Result<HashSet<(String, ShareChannel, String)>, DbErr> {
    let triples: HashSet<(&str, &'static str, &str)> = batch
        .iter()
        .filter_map(|share| {
            let hash = share.client_hash.as_deref()?;
            Some((share.article_id.as_str(), share.channel.as_str(), hash))
        })
        .collect();
    if triples.is_empty() {
        return Ok(HashSet::new());
    }
    let since = now - repeat_window();
    let statement = match conn.get_database_backend() {
        // PostgreSQL plans the statement once for any batch (with a guess of
        // 100 keys), and a plain join then reads every share in the window;
        // the lateral LIMIT keeps it to one index probe a key.
        DbBackend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT b.article_id, b.channel, b.client_hash \
             FROM json_to_recordset($1::json) AS b(article_id text, channel text, client_hash text) \
             CROSS JOIN LATERAL (SELECT FROM shares s WHERE s.article_id = b.article_id \
             AND s.channel = b.channel AND s.client_hash = b.client_hash \
             AND s.counted AND s.create_time > $2 LIMIT 1) AS earlier",
            [to_json(&repeat_keys(&triples))?.into(), since.into()],
        ),
        backend => {
            let mut values: Vec<sea_orm::Value> = Vec::with_capacity(triples.len() * 3 + 1);
            let mut rows = Vec::with_capacity(triples.len());
            for (article_id, channel, hash) in triples {
                let mut row = Vec::with_capacity(3);
                for value in [article_id, channel, hash] {
                    values.push(value.into());
                    row.push(placeholder(backend, values.len()));
                }
                rows.push(format!("({})", row.join(", ")));
            }
            values.push(since.into());
            let since = placeholder(backend, values.len());
            let sql = format!(
                "WITH batch (article_id, channel, client_hash) AS (VALUES {}) \
                 SELECT s.article_id, s.channel, s.client_hash FROM batch b \
                 JOIN shares s ON s.article_id = b.article_id AND s.channel = b.channel \
                 AND s.client_hash = b.client_hash \
                 WHERE s.counted AND s.create_time > {since}",
                rows.join(", ")
            );
            Statement::from_sql_and_values(backend, sql, values)
        }
    };
    let mut recent = HashSet::new();
    for row in conn.query_all_raw(statement).await? {
        let article_id: String = row.try_get("", "article_id")?;
        let channel: String = row.try_get("", "channel")?;
        let hash: String = row.try_get("", "client_hash")?;
        if let Some(channel) = ShareChannel::parse(&channel) {
            recent.insert((article_id, channel, hash));
        }
    }
    Ok(recent)
}

/// The statements that store a batch's shares and add its counts to their
/// totals (taking the totals' row locks in `totals`' order); none when no
/// share is stored. On PostgreSQL they are one statement, the totals' upsert
/// a CTE of the shares' insert (a round trip fewer while the batch holds its
/// turn); on SQLite they go to the writer as one query anyway.
fn batch_writes(
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
             INSERT INTO shares (article_id, channel, client_hash, referrer, create_time, counted) \
             SELECT s.article_id, s.channel, s.client_hash, s.referrer, $3, s.counted \
             FROM json_to_recordset($1::json) AS s(article_id text, channel text, \
             client_hash text, referrer text, counted boolean)";
        return Ok(vec![Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [to_json(&rows)?.into(), to_json(&totals)?.into(), now.into()],
        )]);
    }
    let rows = rows.into_iter().map(|row| shares::ActiveModel {
        article_id: Set(row.article_id),
        channel: Set(row.channel.to_owned()),
        client_hash: Set(row.client_hash),
        referrer: Set(row.referrer),
        create_time: Set(now),
        counted: Set(row.counted),
        ..Default::default()
    });
    let mut writes = vec![backend.build(&shares::Entity::insert_many(rows).into_query())];
    writes.extend(totals_upsert(totals, now).map(|upsert| backend.build(&upsert)));
    Ok(writes)
}

fn to_json(value: &impl Serialize) -> Result<String, DbErr> {
    serde_json::to_string(value)
        .map_err(|error| DbErr::Custom(format!("cannot encode a share batch: {error}")))
}

/// The `n`th (from 1) bind parameter's placeholder in `backend`'s SQL.
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// The upsert that adds each count to its article's and channel's total
/// (one key appears once: `totals` is keyed by it, and sorted, so that
/// every batch takes the rows' locks in the same order); none for no counts.
fn totals_upsert(
    totals: BTreeMap<(String, &'static str), i64>,
    now: DateTime<Utc>,
) -> Option<InsertStatement> {
    if totals.is_empty() {
        return None;
    }
    let rows = totals
        .into_iter()
        .map(|((article_id, channel), count)| share_totals::ActiveModel {
            article_id: Set(article_id),
            channel: Set(channel.to_owned()),
            count: Set(count),
            first_time: Set(now),
            last_time: Set(now),
        });
    Some(
        share_totals::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    share_totals::Column::ArticleId,
                    share_totals::Column::Channel,
                ])
                .value(
                    share_totals::Column::Count,
                    Expr::col((share_totals::Entity, share_totals::Column::Count))
                        .add(Expr::cust("excluded.count")),
                )
                .value(
                    share_totals::Column::LastTime,
                    Expr::cust("excluded.last_time"),
                )
                .to_owned(),
            )
            .into_query(),
    )
}
