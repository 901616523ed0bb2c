//! Shares in the database. Shares are the busiest write in the service, so
//! they are written a batch at a time: one transaction records many shares,
//! their totals and their events, and one commit makes them all durable.

mod batch;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement,
    sea_query::{Alias, Expr, ExprTrait, Query},
};

use self::batch::{
    KeyedShare, ShareRow, article_statuses, batch_writes, recent_counted_shares, repeats_from,
    repeats_query, statuses_from, statuses_query,
};
use super::{
    Store,
    entities::{article_live, articles, share_totals, shares},
    events::{ChangeWrites, NewEvent, execute_then_append, sqlite_statements},
    stored_now,
};
use crate::{
    domain::{
        access::Actor,
        article::{Article, ArticleStatus, ArticleView},
        event::{EventPayload, SHARE_RECORDED},
        share::{NewShare, ShareChannel, ShareOutcome, ShareRecord, ShareStats},
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
        let batch: Vec<KeyedShare> = batch.into_iter().map(KeyedShare::of).collect();
        if self.writer.has_own_thread() {
            // SQLite on a file: the whole batch is one hand-off to the
            // writer's thread (see `direct`). Its time is read there, in the
            // writers' turn, so that batches' times follow their commits.
            let clock = self.clock.clone();
            return self
                .writer
                .on_own_thread(move |conn| {
                    let now = stored_now(clock.as_ref());
                    let statuses =
                        statuses_from(&conn.query(&statuses_query(DbBackend::Sqlite, &batch)?)?)?;
                    let recent = match repeats_query(DbBackend::Sqlite, &batch, now)? {
                        Some(query) => repeats_from(&conn.query(&query)?)?,
                        None => HashSet::new(),
                    };
                    let mut planned =
                        Planned::new(DbBackend::Sqlite, batch, &statuses, recent, now)?;
                    conn.execute(sqlite_statements(
                        ChangeWrites::in_order(std::mem::take(&mut planned.writes)),
                        &planned.events(),
                    )?)?;
                    Ok(planned.outcomes)
                })
                .await;
        }
        let txn = self.begin_write().await?;
        // Whether a share counts depends on the shares before it: batches from
        // several server processes must not both count the same repeat. On
        // PostgreSQL they take turns (SQLite's writers always do).
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SHARE_BATCH_LOCK})"))
                .await?;
        }
        // Read in the batch's turn, so that batches' times (the totals'
        // last times, the events') follow their commits.
        let now = self.now();
        let statuses = article_statuses(&txn, &batch).await?;
        let recent = recent_counted_shares(&txn, &batch, now).await?;
        let mut planned = Planned::new(txn.get_database_backend(), batch, &statuses, recent, now)?;
        let writes = ChangeWrites::in_order(std::mem::take(&mut planned.writes));
        if txn.get_database_backend() == DbBackend::Sqlite {
            // An in-memory database: its statements are one a row, each text
            // the same for any batch, so each is sent on its own and sqlx
            // keeps it prepared; joined (`execute_in_order`), the text would
            // change with the batch's size and be prepared anew, row by row.
            for statement in sqlite_statements(writes, &planned.events())? {
                txn.execute_raw(statement).await?;
            }
        } else {
            // Not folded into the events' insert (see `ChangeWrites::apart`):
            // share events take their numbers, and the lock that orders the
            // log (shared among writers), at that insert, and PostgreSQL runs
            // a statement's write CTEs after its main insert, so readers of
            // the log would wait while the batch's shares and totals are
            // written.
            execute_then_append(&txn, writes, &planned.events()).await?;
        }
        txn.commit().await?;
        Ok(planned.outcomes)
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

/// What a batch writes, once the database has said which of its articles
/// are published and which of its clients shared them lately.
struct Planned {
    /// Each share's outcome, in the batch's order.
    outcomes: Vec<ShareResult>,
    /// The shares' and totals' writes.
    writes: Vec<Statement>,
    /// The shares stored, with who shared them, for their events.
    records: Vec<(ShareRecord, Actor)>,
    now: DateTime<Utc>,
}

impl Planned {
    fn new(
        backend: DbBackend,
        batch: Vec<KeyedShare>,
        statuses: &HashMap<String, Option<ArticleStatus>>,
        mut counted_recently: HashSet<(String, ShareChannel, String)>,
        now: DateTime<Utc>,
    ) -> Result<Self, DbErr> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        // Sorted, so that every batch locks the totals' rows in one order.
        let mut totals: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        let mut records = Vec::new();
        for KeyedShare { share, repeat_key } in batch {
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
                repeat_key,
                referrer: share.referrer,
                counted,
            });
            outcomes.push(Ok(ShareOutcome { counted, time: now }));
        }
        Ok(Self {
            outcomes,
            writes: batch_writes(backend, rows, totals, now)?,
            records,
            now,
        })
    }

    /// The events of the shares stored.
    fn events(&self) -> Vec<NewEvent<'_>> {
        self.records
            .iter()
            .map(|(record, actor)| NewEvent {
                event_type: SHARE_RECORDED,
                occur_time: self.now,
                payload: EventPayload::Share(record.clone()),
                actor,
            })
            .collect()
    }
}
