//! The results: one row a scenario, printed as a Markdown table, and
//! recorded in BENCHMARKS.md (with the machine, commit and settings) in a
//! section of their own per database, so that a run on SQLite and one on
//! PostgreSQL stand side by side and the prose around them stays.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;

use crate::load::Measured;

/// One scenario's line.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub per_second: f64,
    /// Requests per second as a share of `health`'s in the same run.
    pub of_health: Option<f64>,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    pub peak_rss_mb: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub note: String,
    /// Whether rounds are compared by p99 latency (the scenario's point),
    /// not by throughput.
    pub ranked_by_latency: bool,
}

impl Row {
    pub fn new(scenario: &str, measured: &Measured, health: Option<f64>, note: String) -> Self {
        let ms = |quantile: f64| measured.latency.value_at_quantile(quantile) as f64 / 1_000.0;
        let per_second = measured.per_second();
        Self {
            scenario: scenario.to_owned(),
            per_second,
            of_health: health
                .filter(|health| *health > 0.0)
                .map(|health| per_second / health),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            errors: measured.errors,
            peak_rss_mb: measured
                .peak_rss_bytes
                .map(|bytes| bytes as f64 / 1_048_576.0),
            cpu_seconds: measured.cpu_seconds,
            note,
            ranked_by_latency: false,
        }
    }

    /// The same row, compared across rounds by its p99 latency.
    pub fn ranked_by_latency(self) -> Self {
        Self {
            ranked_by_latency: true,
            ..self
        }
    }
}

/// One row a scenario from several rounds of the same scenarios: the round
/// in the middle by its ratio to `health` (or by p99 latency), with the
/// errors of every round and the highest memory of any.
pub fn medians(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    (0..first.len())
        .filter_map(|index| {
            let mut candidates: Vec<&Row> =
                rounds.iter().filter_map(|round| round.get(index)).collect();
            let key = |row: &Row| {
                if row.ranked_by_latency {
                    row.p99_ms
                } else {
                    row.of_health.unwrap_or(row.per_second)
                }
            };
            candidates.sort_by(|a, b| key(a).total_cmp(&key(b)));
            let middle = candidates.get(candidates.len() / 2)?;
            Some(Row {
                errors: candidates.iter().map(|row| row.errors).sum(),
                peak_rss_mb: candidates
                    .iter()
                    .filter_map(|row| row.peak_rss_mb)
                    .reduce(f64::max),
                ..(*middle).clone()
            })
        })
        .collect()
}

/// The results as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | requests/s | x health | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | server RSS MB (peak) | server CPU s | note |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let or_dash = |value: Option<f64>, digits: usize| {
        value.map_or_else(|| "-".to_owned(), |value| format!("{value:.digits$}"))
    };
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
            row.scenario,
            row.per_second,
            or_dash(row.of_health, 2),
            row.p50_ms,
            row.p90_ms,
            row.p99_ms,
            row.p999_ms,
            row.errors,
            or_dash(row.peak_rss_mb, 0),
            or_dash(row.cpu_seconds, 1),
            row.note
        );
    }
    out
}

/// Puts `body` between this section's markers in the file at `path`
/// (replacing what a run before put there, or adding the section at the end).
pub fn write_section(path: &Path, section: &str, body: &str) -> anyhow::Result<()> {
    let begin = format!("<!-- bench:{section} -->");
    let end = format!("<!-- /bench:{section} -->");
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "# Benchmarks\n\nMeasured with `newsdesk-bench` (see the README).\n".to_owned()
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    let updated = match (existing.find(&begin), existing.find(&end)) {
        (Some(start), Some(stop)) if start < stop => {
            format!(
                "{}{block}{}",
                &existing[..start],
                &existing[stop + end.len()..]
            )
        }
        _ => format!("{}\n\n{block}\n", existing.trim_end()),
    };
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, of_health: f64, p99_ms: f64, errors: u64, rss: f64) -> Row {
        Row {
            scenario: scenario.into(),
            per_second: of_health * 1_000.0,
            of_health: Some(of_health),
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms,
            p999_ms: p99_ms * 2.0,
            errors,
            peak_rss_mb: Some(rss),
            cpu_seconds: Some(1.0),
            note: String::new(),
            ranked_by_latency: false,
        }
    }

    #[test]
    fn each_row_is_the_middle_round_with_every_rounds_errors_and_the_highest_memory() {
        let rounds = vec![
            vec![
                row("get", 0.7, 9.0, 0, 100.0),
                row("get (at half that rate)", 0.3, 3.0, 0, 90.0).ranked_by_latency(),
            ],
            vec![
                row("get", 0.5, 2.0, 1, 120.0),
                row("get (at half that rate)", 0.3, 9.0, 0, 95.0).ranked_by_latency(),
            ],
            vec![
                row("get", 0.6, 5.0, 0, 110.0),
                row("get (at half that rate)", 0.3, 4.0, 2, 99.0).ranked_by_latency(),
            ],
        ];
        let rows = medians(rounds);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].of_health, Some(0.6));
        assert_eq!(rows[0].p99_ms, 5.0);
        assert_eq!(rows[0].errors, 1);
        assert_eq!(rows[0].peak_rss_mb, Some(120.0));
        assert_eq!(rows[1].p99_ms, 4.0);
        assert_eq!(rows[1].errors, 2);
        assert_eq!(rows[1].peak_rss_mb, Some(99.0));
    }

    #[test]
    fn a_section_is_replaced_in_place_and_the_prose_around_it_stays() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("BENCHMARKS.md");
        write_section(&path, "sqlite", "first").expect("write");
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).expect("read") + "\nWhat the profile shows.\n",
        )
        .expect("add prose");
        write_section(&path, "postgres", "pg").expect("write");
        write_section(&path, "sqlite", "second").expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("<!-- bench:sqlite -->\nsecond\n<!-- /bench:sqlite -->"));
        assert!(!text.contains("first"));
        assert!(text.contains("What the profile shows."));
        assert!(text.contains("<!-- bench:postgres -->\npg\n<!-- /bench:postgres -->"));
    }
}
