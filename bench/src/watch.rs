//! The `watch` scenario: watchers follow the change feed while readers share
//! articles at a set rate; each watcher measures, for every event, the time
//! from its commit (the event's `occur_time`) to its arrival, and checks that
//! sequences only go up.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use newsdesk::proto::{self as pb, event_service_client::EventServiceClient};
use tokio::task::JoinSet;
use tonic::service::interceptor::InterceptedService;

use crate::{
    client::Bearer,
    corpus::Corpus,
    load::{Measured, Settings, latency_histogram, sample_peak_rss},
    rng::Rng,
    scenarios::share,
    server::Server,
};

/// What `watch` is asked for.
pub struct WatchLoad {
    pub watchers: usize,
    /// Shares (so events) per second while the watchers watch.
    pub events_per_second: f64,
    pub bearer: Bearer,
}

/// Runs the watchers and the shares; latencies are delivery lags, requests
/// are events delivered (to all watchers).
pub async fn watch(
    load: &WatchLoad,
    corpus: &Arc<Corpus>,
    settings: &Settings,
    server: &Server,
) -> anyhow::Result<Measured> {
    let channel = settings.connections[0].clone();
    let head = newest_sequence(&EventServiceClient::new(InterceptedService::new(
        channel,
        load.bearer.clone(),
    )))
    .await?;

    let started = Instant::now();
    let measure_from = started + settings.warmup;
    let end = measure_from + settings.duration;
    let mut watchers = JoinSet::new();
    for n in 0..load.watchers {
        let channel = settings.connections[n % settings.connections.len()].clone();
        let mut events =
            EventServiceClient::new(InterceptedService::new(channel, load.bearer.clone()));
        let mut stream = events
            .watch_events(pb::WatchEventsRequest {
                after_sequence: head,
                types: vec!["share.recorded".into()],
            })
            .await?
            .into_inner();
        watchers.spawn(async move {
            let mut lags = latency_histogram();
            let (mut delivered, mut errors, mut last, mut sample) = (0u64, 0u64, head, Vec::new());
            loop {
                let next = tokio::time::timeout_at(
                    (end + Duration::from_secs(2)).into(),
                    stream.message(),
                )
                .await;
                let item = match next {
                    Err(_) | Ok(Ok(None)) => break,
                    Ok(Err(status)) => {
                        errors += 1;
                        sample.push(format!(
                            "WatchEvents: {:?} {}",
                            status.code(),
                            status.message()
                        ));
                        break;
                    }
                    Ok(Ok(Some(item))) => item,
                };
                let Some(pb::watch_events_response::Kind::Event(event)) = item.kind else {
                    continue;
                };
                if event.sequence <= last {
                    errors += 1;
                    sample.push(format!(
                        "WatchEvents: sequence {} after {last}",
                        event.sequence
                    ));
                }
                last = event.sequence;
                let arrived = Instant::now();
                if arrived < measure_from || arrived > end {
                    continue;
                }
                delivered += 1;
                if let Some(committed) = event.occur_time {
                    let lag = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_micros() as i128
                        - (i128::from(committed.seconds) * 1_000_000
                            + i128::from(committed.nanos) / 1_000);
                    let _ = lags.record(u64::try_from(lag.max(1)).unwrap_or(1));
                }
            }
            (lags, delivered, errors, sample)
        });
    }

    // The readers' shares, paced across a few tasks.
    let (stop_sampling, sampling) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_peak_rss(server.pid, measure_from, sampling));
    let before = {
        tokio::time::sleep_until(measure_from.into()).await;
        server.usage()
    };
    let producers = 8usize;
    let every = Duration::from_secs_f64(producers as f64 / load.events_per_second.max(1.0));
    let mut shares = JoinSet::new();
    for p in 0..producers {
        let channel = settings.connections[p % settings.connections.len()].clone();
        let corpus = corpus.clone();
        shares.spawn(async move {
            let mut rng = Rng::new(p as u64 + 99);
            let mut at = started + every.mul_f64(p as f64 / producers as f64);
            let mut failures = Vec::new();
            while at < end {
                tokio::time::sleep_until(at.into()).await;
                at += every;
                let article = corpus.published[rng.below(corpus.published.len())]
                    .id
                    .clone();
                if let Err(error) = share(channel.clone(), article, rng.next_u64()).await {
                    failures.push(error);
                }
            }
            failures
        });
    }
    let mut measured = Measured {
        latency: latency_histogram(),
        requests: 0,
        errors: 0,
        sample_errors: Vec::new(),
        elapsed: settings.duration,
        peak_rss_bytes: None,
        cpu_seconds: None,
    };
    while let Some(done) = shares.join_next().await {
        for failure in done? {
            measured.errors += 1;
            if measured.sample_errors.len() < 5 {
                measured.sample_errors.push(failure);
            }
        }
    }
    let after = server.usage();
    while let Some(done) = watchers.join_next().await {
        let (lags, delivered, errors, sample) = done?;
        measured.latency.add(&lags)?;
        measured.requests += delivered;
        measured.errors += errors;
        for error in sample {
            if measured.sample_errors.len() < 5 {
                measured.sample_errors.push(error);
            }
        }
    }
    let _ = stop_sampling.send(true);
    measured.peak_rss_bytes = sampler.await.ok().flatten();
    if let (Some(before), Some(after)) = (before, after) {
        measured.cpu_seconds = Some(after.cpu_seconds - before.cpu_seconds);
    }
    Ok(measured)
}

/// The sequence of the newest event: the feed pages from a sequence on, so
/// a binary search over "is anything after this?" finds the end in a few
/// dozen calls, however long the log.
async fn newest_sequence(
    events: &EventServiceClient<InterceptedService<tonic::transport::Channel, Bearer>>,
) -> anyhow::Result<i64> {
    let anything_after = |after: i64| {
        let mut events = events.clone();
        async move {
            anyhow::Ok(
                !events
                    .list_events(pb::ListEventsRequest {
                        after_sequence: after,
                        page_size: 1,
                        types: Vec::new(),
                    })
                    .await?
                    .into_inner()
                    .events
                    .is_empty(),
            )
        }
    };
    let (mut low, mut high) = (0i64, 1i64);
    while anything_after(high).await? {
        low = high;
        high *= 2;
    }
    // Something after `low` (or low is 0), nothing after `high`.
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if anything_after(middle).await? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(if anything_after(low).await? {
        high
    } else {
        low
    })
}
