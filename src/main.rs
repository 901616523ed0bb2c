//! The `newsdesk` binary: cap the allocator's arenas, parse the command
//! line, start logging, run.

use clap::Parser;
use newsdesk::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    // Before the runtime's threads exist, so that none has an arena yet.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    cap_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = newsdesk::telemetry::init(cli.log_format);
    match cli.command() {
        Command::Serve(args) => newsdesk::server::run(*args).await,
        Command::Keys(args) => newsdesk::keys::run(args).await,
    }
}

/// Caps glibc's malloc arenas at one a core. By default a thread that finds
/// the arenas busy gets one of its own, up to eight a core, and memory freed
/// in an arena serves that arena only: with two arenas on two cores the
/// server's peak RSS during the benchmark's `mixed` fell from 248-251 MB to
/// 231-232 MB, with no loss of throughput measured (see "glibc's arenas" in
/// BENCHMARKS.md). An operator's own `arena_max` in `GLIBC_TUNABLES` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("arena_max")) {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets one of the allocator's parameters, and is
    // called before any other thread of the process exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}
