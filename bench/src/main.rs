//! `newsdesk-bench`: a load benchmark of newsdesk through its real stack
//! (middleware and keys included). It spawns the release server on a
//! temporary SQLite database (or on `--database-url`), or targets one that
//! runs (`--server`), seeds a corpus, runs each scenario over real gRPC
//! connections for a fixed time after a warm-up, checks every answer, and
//! reports throughput, latency percentiles, errors and the server's memory
//! and CPU. Any unexpected error fails the run.

mod client;
mod corpus;
mod load;
mod probe;
mod report;
mod rng;
mod scenarios;
mod server;
mod watch;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::{
    client::Bearer,
    corpus::Corpus,
    load::{Measured, Scenario, Settings, drive},
    report::{Row, table, write_section},
    scenarios::{
        CreateComment, Get, GetSlug, Health, ListDeep, ListFirst, Mixed, RecordShare, Update,
    },
    server::Server,
    watch::{WatchLoad, watch},
};

/// Load benchmark for newsdesk.
#[derive(Debug, Parser)]
#[command(name = "newsdesk-bench", version)]
struct Args {
    /// A running server to measure (`http://host:port`); without it, the
    /// benchmark starts the release binary itself.
    #[arg(long)]
    server: Option<String>,
    /// With `--server`: an admin key's token (for seeding and the newsroom's
    /// calls).
    #[arg(long, env = "NEWSDESK_BENCH_TOKEN", requires = "server")]
    token: Option<String>,
    /// With `--server`: its process id, to report its memory and CPU.
    #[arg(long, requires = "server")]
    server_pid: Option<u32>,
    /// The server binary to start (default: `newsdesk` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The database the started server uses (default: a temporary SQLite
    /// file); a database that has articles already is used as it is.
    #[arg(long)]
    database_url: Option<String>,
    /// Articles to seed.
    #[arg(long, default_value_t = 10_000)]
    articles: usize,
    /// gRPC connections the load is spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long each scenario is measured.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long each scenario runs before measuring starts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Which scenarios to run, in order (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<ScenarioName>,
    /// Watchers in the `watch` scenario.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Events per second in the `watch` scenario.
    #[arg(long, default_value_t = 1_000.0)]
    watch_rate: f64,
    /// Rounds of every scenario; each row reports the round in the middle
    /// (by its ratio to `health`, or by p99 where latency is the point), as
    /// these machines vary from run to run.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Record the results in this Markdown file (BENCHMARKS.md), in the
    /// section for this database.
    #[arg(long)]
    write: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioName {
    Health,
    Get,
    GetSlug,
    ListFirst,
    ListDeep,
    Search,
    CreateComment,
    RecordShare,
    Update,
    Watch,
    Mixed,
}

const ALL: [ScenarioName; 11] = [
    ScenarioName::Health,
    ScenarioName::Get,
    ScenarioName::GetSlug,
    ScenarioName::ListFirst,
    ScenarioName::ListDeep,
    ScenarioName::Search,
    ScenarioName::CreateComment,
    ScenarioName::RecordShare,
    ScenarioName::Update,
    ScenarioName::Watch,
    ScenarioName::Mixed,
];

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("newsdesk-bench: some answers were wrong (see the errors column)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("newsdesk-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the run found out before the scenarios.
struct Setup {
    server: Server,
    token: String,
    database: String,
    /// Time from start to SERVING on the seeded database.
    startup: Option<Duration>,
    idle_rss_mb: Option<f64>,
    /// Keeps a temporary database and the server's log for the run.
    _scratch: tempfile::TempDir,
}

/// Runs the benchmark; `Ok(false)` when some answer was wrong.
async fn run(args: Args) -> anyhow::Result<bool> {
    let setup = set_up(&args).await?;
    let Setup { server, token, .. } = &setup;
    let mut connections = Vec::new();
    for _ in 0..args.connections.max(1) {
        connections.push(server.connect().await?);
    }
    let corpus = Arc::new(
        corpus::prepare(&connections[0], token, args.articles, 16)
            .await
            .context("preparing the corpus")?,
    );
    let (setup, corpus) = restart_for_startup(setup, corpus, &args).await?;
    let server = &setup.server;
    // Reconnect: a restarted server listens on a new port.
    let mut connections = Vec::new();
    for _ in 0..args.connections.max(1) {
        connections.push(server.connect().await?);
    }
    // Readers' first visits after the start: the scenarios measure a server
    // whose memory holds what readers read (at rest, measured above, it
    // holds nothing).
    eprintln!("reading each published article once");
    let first_reads = scenarios::read_each_once(&connections, &corpus, args.concurrency).await?;
    let settings = Settings {
        connections,
        concurrency: args.concurrency,
        warmup: args.warmup,
        duration: args.duration,
        rate: None,
    };
    let bearer = Bearer::new(&setup.token)?;
    let scenarios = if args.scenarios.is_empty() {
        ALL.to_vec()
    } else {
        args.scenarios.clone()
    };

    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        if args.rounds > 1 {
            eprintln!("round {round} of {}", args.rounds);
        }
        let rows = run_round(&scenarios, &settings, server, &corpus, &bearer, &args).await?;
        // The record keeps each scenario's middle round; each round whole
        // goes to the log, as a comparison of two scenarios (list-deep's
        // latency against list-first's) belongs within one round.
        if args.rounds > 1 {
            eprintln!("round {round}:\n{}", report::table(&rows));
        }
        rounds.push(rows);
    }
    let rows = report::medians(rounds);
    let ok = rows.iter().all(|row| row.errors == 0);
    let text = summary(&args, &setup, &corpus, first_reads, &rows);
    println!("{text}");
    if let Some(path) = &args.write {
        write_section(path, &section_name(&setup.database), &text)?;
        eprintln!("wrote the results to {}", path.display());
    }
    setup.server.stop().await?;
    Ok(ok)
}

/// Every scenario once, in order; ratios are to this round's `health`.
async fn run_round(
    scenarios: &[ScenarioName],
    settings: &Settings,
    server: &Server,
    corpus: &Arc<Corpus>,
    bearer: &Bearer,
    args: &Args,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut health = None;
    for &name in scenarios {
        eprintln!("running {name:?}");
        let label = format!("{name:?}");
        let (measured, note) = match name {
            ScenarioName::Search => {
                rows.push(skipped("search", "no search RPC exists yet"));
                continue;
            }
            ScenarioName::Health => (
                drive(Arc::new(Health), settings, server).await?,
                String::new(),
            ),
            ScenarioName::Get => {
                let measured = drive(Arc::new(Get(corpus.clone())), settings, server).await?;
                // The latency target is set at half the rate `get` reached.
                let half = Settings {
                    rate: Some(measured.per_second() / 2.0),
                    ..settings.clone()
                };
                let paced = drive(Arc::new(Get(corpus.clone())), &half, server).await?;
                rows.push(Row::new("get", &measured, health, String::new()));
                rows.push(
                    Row::new(
                        "get (at half that rate)",
                        &paced,
                        health,
                        "latency from the scheduled start".into(),
                    )
                    .ranked_by_latency(),
                );
                continue;
            }
            ScenarioName::GetSlug => (
                drive(Arc::new(GetSlug(corpus.clone())), settings, server).await?,
                String::new(),
            ),
            ScenarioName::ListFirst => (
                drive(Arc::new(ListFirst { page_size: 20 }), settings, server).await?,
                "20 a page".into(),
            ),
            ScenarioName::ListDeep => match &corpus.deep_page {
                Some(deep) => (
                    drive(Arc::new(ListDeep(deep.clone())), settings, server).await?,
                    format!("page {} of {} a page", corpus::DEEP_PAGE, deep.page_size),
                ),
                None => {
                    rows.push(skipped("list-deep", "the corpus has no page 1,000"));
                    continue;
                }
            },
            ScenarioName::CreateComment => (
                drive(
                    Arc::new(CreateComment {
                        corpus: corpus.clone(),
                        posted: AtomicU64::new(0),
                    }),
                    settings,
                    server,
                )
                .await?,
                String::new(),
            ),
            ScenarioName::RecordShare => (
                drive(Arc::new(RecordShare(corpus.clone())), settings, server).await?,
                "durable".into(),
            ),
            ScenarioName::Update => {
                if corpus.drafts.is_empty() {
                    rows.push(skipped("update", "the corpus has no drafts"));
                    continue;
                }
                let update = Update {
                    drafts: Arc::new(corpus.drafts.clone()),
                    bearer: bearer.clone(),
                    saved: AtomicU64::new(0),
                };
                (
                    drive(Arc::new(update), settings, server).await?,
                    "revision and event each".into(),
                )
            }
            ScenarioName::Watch => {
                let load = WatchLoad {
                    watchers: args.watchers,
                    events_per_second: args.watch_rate,
                    bearer: bearer.clone(),
                };
                (
                    watch(&load, corpus, settings, server).await?,
                    format!(
                        "{} watchers, {} events/s; requests = deliveries; latency = commit to receipt",
                        args.watchers, args.watch_rate
                    ),
                )
            }
            ScenarioName::Mixed => {
                let mixed = Mixed {
                    corpus: corpus.clone(),
                    comments: CreateComment {
                        corpus: corpus.clone(),
                        posted: AtomicU64::new(1 << 40),
                    },
                };
                (
                    drive(Arc::new(mixed) as Arc<dyn Scenario>, settings, server).await?,
                    "90% reads, 8% shares, 2% comments".into(),
                )
            }
        };
        report_errors(&label, &measured);
        if name == ScenarioName::Health {
            health = Some(measured.per_second());
        }
        let row = Row::new(&kebab(&label), &measured, health, note);
        rows.push(if name == ScenarioName::Watch {
            row.ranked_by_latency()
        } else {
            row
        });
    }
    Ok(rows)
}

fn skipped(scenario: &str, why: &str) -> Row {
    Row::new(
        scenario,
        &Measured {
            latency: load::latency_histogram(),
            requests: 0,
            errors: 0,
            sample_errors: Vec::new(),
            elapsed: Duration::from_secs(1),
            peak_rss_bytes: None,
            cpu_seconds: None,
        },
        None,
        format!("not run: {why}"),
    )
}

fn report_errors(label: &str, measured: &Measured) {
    if measured.errors > 0 {
        eprintln!("{label}: {} errors, such as:", measured.errors);
        for error in &measured.sample_errors {
            eprintln!("  {error}");
        }
    }
}

/// `GetSlug` as `get-slug`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.extend(c.to_lowercase());
    }
    out
}

async fn set_up(args: &Args) -> anyhow::Result<Setup> {
    let scratch = tempfile::tempdir()?;
    if let Some(url) = &args.server {
        let Some(token) = args.token.clone() else {
            bail!("--server needs --token (an admin key's token)");
        };
        return Ok(Setup {
            server: Server::running(url.clone(), args.server_pid),
            token,
            database: "the server's".into(),
            startup: None,
            idle_rss_mb: None,
            _scratch: scratch,
        });
    }
    let bin = args
        .server_bin
        .clone()
        .unwrap_or_else(server::default_server_bin);
    let database = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            scratch.path().join("bench.db").display()
        )
    });
    let token = server::admin_token(&bin, &database).await?;
    let (server, _) = Server::spawn(&bin, &database, &scratch.path().join("server.log")).await?;
    Ok(Setup {
        server,
        token,
        database,
        startup: None,
        idle_rss_mb: None,
        _scratch: scratch,
    })
}

/// Restarts a spawned server on the seeded database, timing how long it
/// takes to serve, and reads its memory at rest.
async fn restart_for_startup(
    setup: Setup,
    corpus: Arc<Corpus>,
    args: &Args,
) -> anyhow::Result<(Setup, Arc<Corpus>)> {
    if args.server.is_some() {
        return Ok((setup, corpus));
    }
    let Setup {
        server,
        token,
        database,
        _scratch,
        ..
    } = setup;
    server.stop().await?;
    analyze(&database).await?;
    let bin = args
        .server_bin
        .clone()
        .unwrap_or_else(server::default_server_bin);
    let (server, startup) =
        Server::spawn(&bin, &database, &_scratch.path().join("server.log")).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_mb = server
        .usage()
        .map(|usage| usage.rss_bytes as f64 / 1_048_576.0);
    Ok((
        Setup {
            server,
            token,
            database,
            startup: Some(startup),
            idle_rss_mb,
            _scratch,
        },
        corpus,
    ))
}

/// Gives a seeded PostgreSQL database its planner statistics, as autovacuum
/// does for a database in production, and flushes what seeding wrote. Without
/// statistics (on a server with autovacuum off, as on the machines here) the
/// planner guesses hundreds of rows for a point lookup and starts parallel
/// workers for it; without the checkpoint, the start-up timed next and the
/// first scenarios share the disk with PostgreSQL writing back gigabytes of
/// seeding, which an existing database has long since written. Either way
/// the run would measure that instead of newsdesk.
async fn analyze(database: &str) -> anyhow::Result<()> {
    if !database.starts_with("postgres") {
        return Ok(());
    }
    let mut options = sea_orm::ConnectOptions::new(database);
    options.sqlx_logging(false);
    let connection = sea_orm::Database::connect(options)
        .await
        .context("connecting to analyze the seeded database")?;
    sea_orm::ConnectionTrait::execute_unprepared(&connection, "VACUUM ANALYZE")
        .await
        .context("VACUUM ANALYZE on the seeded database")?;
    // CHECKPOINT takes a superuser or pg_checkpoint; without either, the run
    // goes on and says so.
    if let Err(error) =
        sea_orm::ConnectionTrait::execute_unprepared(&connection, "CHECKPOINT").await
    {
        eprintln!(
            "no CHECKPOINT after seeding ({error}): start-up shares the disk with its writes"
        );
    }
    connection.close().await?;
    Ok(())
}

/// The section of BENCHMARKS.md a run on `database` goes in.
fn section_name(database: &str) -> String {
    if database.starts_with("postgres") {
        "postgres".into()
    } else if database.starts_with("sqlite") {
        "sqlite".into()
    } else {
        "server".into()
    }
}

/// The machine, commit, settings and results, in Markdown.
fn summary(
    args: &Args,
    setup: &Setup,
    corpus: &Corpus,
    first_reads: Duration,
    rows: &[Row],
) -> String {
    let database = match section_name(&setup.database).as_str() {
        "postgres" => "PostgreSQL",
        "sqlite" => "SQLite",
        _ => "a running server's database",
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mut text = format!(
        "## {database}\n\n\
         - When: {} on {cores} cores of {cpu}; commit {commit}; load generator on the same machine.\n\
         - Corpus: {} published articles and {} drafts (~3 KB Arabic bodies); {} connections, \
         {} calls in flight, {:?} warm-up, {:?} measured per scenario; {}.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        corpus.published.len(),
        corpus.drafts.len(),
        args.connections,
        args.concurrency,
        args.warmup,
        args.duration,
        if args.rounds > 1 {
            format!(
                "each row the middle of {} rounds (by ratio to health; by p99 where latency is the point), with every round's errors",
                args.rounds
            )
        } else {
            "one round".to_owned()
        },
    );
    if let Some(startup) = setup.startup {
        text.push_str(&format!(
            "- Start-up on the seeded database, to SERVING: {:.0} ms.\n",
            startup.as_secs_f64() * 1_000.0
        ));
    }
    if let Some(idle) = setup.idle_rss_mb {
        text.push_str(&format!(
            "- Server memory at rest after start-up: {idle:.0} MB RSS.\n"
        ));
    }
    text.push_str(&format!(
        "- Then each published article read once (from the database into memory): {:.1} s, \
         {:.0} articles/s; the scenarios run after.\n",
        first_reads.as_secs_f64(),
        corpus.published.len() as f64 / first_reads.as_secs_f64().max(f64::EPSILON),
    ));
    text.push('\n');
    text.push_str(&table(rows));
    text
}
