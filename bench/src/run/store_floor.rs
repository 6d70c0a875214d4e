//! Measures the store's floor ([`StoreFloor`]): single-row inserts into the stack's PostgreSQL,
//! each its own commit, timed by `psql` (installed with the server), so that the run needs no
//! PostgreSQL client of its own. The table lives in the `postgres` database, never in the one
//! FerretDB keeps its collections in, under a name no other run shares, and is dropped after.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncWriteExt;

use crate::results::store_floor::StoreFloor;

/// Inserts timed: over six runs here the median was 0.19–0.30 ms, and psql took 40–60 ms in all.
const COMMITS: u32 = 20;

/// The longest `psql` may take (a stuck server is no reason to hold the run).
const PSQL_TIMEOUT: Duration = Duration::from_secs(20);

/// The floor of the stack's store (`BB_STORE_PG_URL`, which `.stack/env` exports when FerretDB
/// runs on PostgreSQL); None without it, or with a warning when measuring it failed.
pub async fn measure() -> Option<StoreFloor> {
    let url = std::env::var("BB_STORE_PG_URL").ok()?;
    match measure_at(&url).await {
        Ok(floor) => Some(floor),
        Err(e) => {
            eprintln!(
                "warning: PostgreSQL's commit latency (the store's floor) not measured: {e:#}"
            );
            None
        }
    }
}

async fn measure_at(url: &str) -> anyhow::Result<StoreFloor> {
    let url = in_database(url, "postgres")?;
    let table = format!("brokerbench_commit_floor_{}", uuid::Uuid::now_v7().simple());
    let mut psql = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-A", "-t", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting psql (Debian package postgresql-client)")?;
    let mut stdin = psql.stdin.take().context("psql's stdin")?;
    stdin.write_all(script(&table).as_bytes()).await?;
    drop(stdin);
    let out = tokio::time::timeout(PSQL_TIMEOUT, psql.wait_with_output())
        .await
        .context("psql did not finish in 20 s")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "psql failed: {}", stderr.trim());
    parse(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("psql said: {}", stderr.trim()))
}

/// Settings first, then the timed inserts; the table is dropped even when an insert failed
/// (psql goes on after an error without `ON_ERROR_STOP`, and the count of timings tells).
fn script(table: &str) -> String {
    let inserts = format!("INSERT INTO {table} VALUES (1);\n").repeat(COMMITS as usize);
    format!(
        "SHOW server_version;\nSHOW fsync;\nSHOW synchronous_commit;\n\
         CREATE TABLE {table} (id int);\n\\timing on\n{inserts}\\timing off\nDROP TABLE {table};\n"
    )
}

/// psql's quiet, unaligned, tuples-only output of [`script`]: three settings, then one
/// `Time: 0.312 ms` (or `Time: 1234.567 ms (00:01.235)`) line per insert.
fn parse(out: &str) -> anyhow::Result<StoreFloor> {
    let lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let (timings, settings): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.starts_with("Time: "));
    let &[server_version, fsync, synchronous_commit] = settings.as_slice() else {
        anyhow::bail!("expected three settings, got {settings:?}");
    };
    let mut ms = timings
        .iter()
        .map(|l| {
            let value = l.trim_start_matches("Time: ").split_whitespace().next();
            value
                .and_then(|v| v.parse::<f64>().ok())
                .context(format!("unreadable timing {l:?}"))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    anyhow::ensure!(
        ms.len() == COMMITS as usize,
        "{} of {COMMITS} inserts timed",
        ms.len()
    );
    ms.sort_by(f64::total_cmp);
    let mid = ms.len() / 2;
    Ok(StoreFloor {
        commits: COMMITS,
        p50_ms: (ms[mid - 1] + ms[mid]) / 2.0,
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
        server_version: server_version.into(),
        fsync: fsync.into(),
        synchronous_commit: synchronous_commit.into(),
    })
}

/// `url` (`postgres://user@host:port/db?params`) naming `database` instead of its own.
fn in_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("not a postgres:// URL")?;
    let (authority, path_and_query) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let query = path_and_query.split_once('?').map(|(_, q)| format!("?{q}"));
    Ok(format!(
        "{scheme}://{authority}/{database}{}",
        query.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_postgres_database_and_keeps_its_passfile() {
        let url = "postgres://bb@127.0.0.1:54329/ferretdb?passfile=%2Ftmp%2Fpgpass";
        assert_eq!(
            in_database(url, "postgres").expect("a URL"),
            "postgres://bb@127.0.0.1:54329/postgres?passfile=%2Ftmp%2Fpgpass"
        );
        assert_eq!(
            in_database("postgres://bb@h:1", "postgres").expect("a URL"),
            "postgres://bb@h:1/postgres"
        );
        assert!(in_database("bb@h:1/db", "postgres").is_err());
    }

    fn output(timings: &[&str]) -> String {
        let mut out = "15.14 (Debian 15.14-0+deb12u1)\non\non\n".to_string();
        for t in timings {
            out.push_str(&format!("Time: {t}\n"));
        }
        out
    }

    #[test]
    fn the_floor_is_the_median_of_every_insert() {
        let mut timings = vec!["0.300 ms"; COMMITS as usize - 2];
        timings.extend(["0.100 ms", "1234.500 ms (00:01.235)"]);
        let floor = parse(&output(&timings)).expect("parsed");
        assert_eq!(
            (floor.p50_ms, floor.min_ms, floor.max_ms),
            (0.3, 0.1, 1234.5)
        );
        assert_eq!(floor.server_version, "15.14 (Debian 15.14-0+deb12u1)");
        assert!(floor.durable(), "{floor:?}");
    }

    #[test]
    fn a_failed_insert_or_a_missing_setting_is_an_error() {
        let short = output(&vec!["0.300 ms"; COMMITS as usize - 1]);
        assert!(parse(&short).is_err());
        let unreadable = output(&vec!["fast"; COMMITS as usize]);
        assert!(parse(&unreadable).is_err());
        assert!(parse("Time: 0.3 ms\n").is_err());
    }
}
