//! The load loop: workers spread over the connections call a scenario as
//! fast as it answers (or at a set rate) through a warm-up and a measured
//! window, check every answer, and record latencies in HDR histograms. The
//! server's memory is sampled throughout and its CPU time read at the edges.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::{sync::watch, task::JoinSet};
use tonic::transport::Channel;

use crate::{
    rng::Rng,
    server::{Server, Usage},
};

/// One call's outcome: `Err` says what was wrong with the answer.
pub type CallResult = Result<(), String>;

/// A boxed call, so that scenarios of every shape fit one loop.
pub type Call = Pin<Box<dyn Future<Output = CallResult> + Send>>;

/// What the loop calls.
pub trait Scenario: Send + Sync + 'static {
    /// One request on `channel`, with its answer checked.
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call;
}

/// How hard and how long to push.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connections: Vec<Channel>,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Requests per second for all workers together; `None`: as fast as the
    /// server answers.
    pub rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Measured {
    /// Latencies in microseconds (from the scheduled start when paced, so
    /// that a stall is not hidden by the calls it held back).
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    /// The first few errors, to say what went wrong.
    pub sample_errors: Vec<String>,
    pub elapsed: Duration,
    /// The server's highest resident memory during the measured window.
    pub peak_rss_bytes: Option<u64>,
    /// The server's CPU time during the measured window.
    pub cpu_seconds: Option<f64>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// A histogram of microseconds up to an hour, three significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds hdrhistogram accepts")
}

struct WorkerResult {
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
    sample_errors: Vec<String>,
}

/// Runs `scenario` under `settings` against `server`.
pub async fn drive(
    scenario: Arc<dyn Scenario>,
    settings: &Settings,
    server: &Server,
) -> anyhow::Result<Measured> {
    let workers = settings.concurrency.max(1);
    let started = Instant::now();
    let measure_from = started + settings.warmup;
    let end = measure_from + settings.duration;
    let interval = settings
        .rate
        .filter(|rate| *rate > 0.0)
        .map(|rate| Duration::from_secs_f64(workers as f64 / rate));

    let (stop_sampling, sampling) = watch::channel(false);
    let sampler = tokio::spawn(sample_peak_rss(server.pid, measure_from, sampling));
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let scenario = scenario.clone();
        let channel = settings.connections[worker % settings.connections.len()].clone();
        tasks.spawn(async move {
            let mut rng = Rng::new(worker as u64 * 7_919 + 17);
            let mut result = WorkerResult {
                latency: latency_histogram(),
                requests: 0,
                errors: 0,
                sample_errors: Vec::new(),
            };
            // Paced workers start spread over one interval.
            let mut next_at =
                interval.map(|every| started + every.mul_f64(worker as f64 / workers as f64));
            loop {
                let scheduled = match (&mut next_at, interval) {
                    (Some(at), Some(every)) => {
                        tokio::time::sleep_until((*at).into()).await;
                        let this = *at;
                        *at += every;
                        this
                    }
                    _ => Instant::now(),
                };
                if scheduled >= end {
                    return result;
                }
                let outcome = scenario.call(channel.clone(), &mut rng).await;
                let finished = Instant::now();
                if scheduled < measure_from {
                    continue;
                }
                result.requests += 1;
                let micros = u64::try_from((finished - scheduled).as_micros()).unwrap_or(u64::MAX);
                let _ = result.latency.record(micros.max(1));
                if let Err(error) = outcome {
                    result.errors += 1;
                    if result.sample_errors.len() < 3 {
                        result.sample_errors.push(error);
                    }
                }
            }
        });
    }
    let before = wait_then_usage(server, measure_from).await;
    let mut measured = Measured {
        latency: latency_histogram(),
        requests: 0,
        errors: 0,
        sample_errors: Vec::new(),
        elapsed: settings.duration,
        peak_rss_bytes: None,
        cpu_seconds: None,
    };
    let mut after = None;
    while let Some(done) = tasks.join_next().await {
        let worker = done?;
        after = after.or_else(|| server.usage());
        measured.latency.add(&worker.latency)?;
        measured.requests += worker.requests;
        measured.errors += worker.errors;
        for error in worker.sample_errors {
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

/// The server's usage at `at` (when measuring starts).
async fn wait_then_usage(server: &Server, at: Instant) -> Option<Usage> {
    tokio::time::sleep_until(at.into()).await;
    server.usage()
}

/// The highest resident memory of `pid` from `from` until told to stop.
pub async fn sample_peak_rss(
    pid: Option<u32>,
    from: Instant,
    mut stop: watch::Receiver<bool>,
) -> Option<u64> {
    let server = Server::running(String::new(), pid);
    tokio::time::sleep_until(from.into()).await;
    let mut peak = server.usage()?.rss_bytes;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => return Some(peak),
        }
        if let Some(usage) = server.usage() {
            peak = peak.max(usage.rss_bytes);
        }
    }
}
