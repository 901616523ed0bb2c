//! Logging: lines on stderr, filtered by `RUST_LOG` (default `info`); text
//! for people (coloured only on a terminal) or JSON for log collectors.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Lines formatted and not yet written that the log holds before a caller
/// waits for the writer: about a second of calls' lines at full load, and
/// few enough to write out in the second the writer gets at exit.
const QUEUED_LINES: usize = 16_384;

/// Writes the lines still queued when dropped: hold it until `main` ends.
#[must_use = "lines still queued are lost when the guard is dropped"]
pub struct LogGuard {
    _writes_the_rest_when_dropped: WorkerGuard,
}

/// Installs the global subscriber; call once, first thing in `main`.
///
/// Every call logs a line, and a write to stderr is a system call under
/// stderr's lock, which the server's threads took in turn: a thread of its
/// own writes the lines instead, as many as are queued at once, and the
/// callers only format theirs. No line is dropped while the server runs: a
/// caller waits when the queue is full, as it did for stderr. At exit the
/// writer has a second to write out what is queued (tracing-appender's
/// limit), and lines logged after `main` returns are lost.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("newsdesk-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
    LogGuard {
        _writes_the_rest_when_dropped: guard,
    }
}
