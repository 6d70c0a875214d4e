//! The processes of the services a path uses — its broker and the store — whose CPU and memory
//! a run charges to it. A service `scripts/stack` started leads a session of its own, and
//! everything it starts stays in that session or below it: RabbitMQ's `beam.smp` under its
//! scripts, PostgreSQL's backends (which do the store's durable writes) under the postmaster,
//! each in a session of its own. So such a service is sampled as its session and every
//! descendant (`scripts/stack sessions` names the leaders). A service the stack did not start
//! (compose, a server of the user's) is found by its process name. A process that exited
//! between two samples takes its CPU time with it: the figures are a lower bound when a
//! service starts and ends processes per request (FerretDB keeps its connections to PostgreSQL).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context as _;
use brokerbench_common::settings::Middleware;

use crate::results::role::Role;

/// What is sampled for one role: one process, or every process of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessTarget {
    pub role: Role,
    /// The process, or the session's leader.
    pub pid: u32,
    pub whole_session: bool,
}

/// `scripts/stack` of this checkout: `BB_STACK_SCRIPT`, else found from the working directory up.
pub fn stack_script() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BB_STACK_SCRIPT") {
        return Ok(PathBuf::from(p));
    }
    let cwd = std::env::current_dir()?;
    cwd.ancestors()
        .map(|d| d.join("scripts/stack"))
        .find(|p| p.is_file())
        .context("faults on brokers and the store need scripts/stack: run from the brokerbench checkout or set BB_STACK_SCRIPT")
}

/// The sessions `scripts/stack` leads, by service (none when it cannot be asked).
fn stack_sessions() -> HashMap<String, Vec<u32>> {
    let Ok(script) = stack_script() else {
        return HashMap::new();
    };
    let Ok(out) = std::process::Command::new(script).arg("sessions").output() else {
        return HashMap::new();
    };
    parse_sessions(&String::from_utf8_lossy(&out.stdout))
}

/// `SERVICE PID` lines.
fn parse_sessions(text: &str) -> HashMap<String, Vec<u32>> {
    let mut sessions: HashMap<String, Vec<u32>> = HashMap::new();
    for line in text.lines() {
        if let Some((service, pid)) = line.split_once(' ')
            && let Ok(pid) = pid.trim().parse()
        {
            sessions.entry(service.to_string()).or_default().push(pid);
        }
    }
    sessions
}

/// The brokers of `group` and the store: the stack's sessions where it runs them, else the
/// processes found by name.
pub fn service_targets(group: &[Middleware]) -> Vec<ProcessTarget> {
    let sessions = stack_sessions();
    let session_targets = |service: &str, role: Role| -> Vec<ProcessTarget> {
        let pids = sessions.get(service).map(Vec::as_slice).unwrap_or_default();
        pids.iter()
            .map(|&pid| ProcessTarget {
                role,
                pid,
                whole_session: true,
            })
            .collect()
    };
    let mut targets = session_targets("mongo", Role::Store);
    let store_by_name = targets.is_empty();
    let mut by_name = Vec::new();
    for &m in group {
        let stack = m.descriptor().stack_service;
        let own = stack
            .map(|s| session_targets(s, Role::Broker(m)))
            .unwrap_or_default();
        if own.is_empty() && stack.is_some() {
            by_name.push(m);
        }
        targets.extend(own);
    }
    targets.extend(by_process_name(&by_name, store_by_name));
    targets
}

/// The broker processes of `brokers` and, with `store`, the MongoDB-wire server, found by name.
fn by_process_name(brokers: &[Middleware], store: bool) -> Vec<ProcessTarget> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for process in all.flatten() {
        let (Ok(stat), cmdline) = (process.stat(), process.cmdline().unwrap_or_default()) else {
            continue;
        };
        let cmd = cmdline.join(" ");
        let pid = u32::try_from(process.pid).unwrap_or(0);
        let role = match brokers
            .iter()
            .find(|m| (m.descriptor().is_broker)(&stat.comm, &cmd))
        {
            Some(m) => Role::Broker(*m),
            None if store && (stat.comm == "ferretdb" || stat.comm == "mongod") => Role::Store,
            None => continue,
        };
        found.push(ProcessTarget {
            role,
            pid,
            whole_session: false,
        });
    }
    found
}

/// CPU seconds, resident KiB and the number of processes of each service in `leaders`: every
/// process of the leader's session and every descendant of those (PostgreSQL's backends each
/// call `setsid()`, so they leave the postmaster's session but stay its children); one pass over
/// /proc.
pub fn session_usage(leaders: &[u32]) -> HashMap<u32, (f64, u64, usize)> {
    let mut usage: HashMap<u32, (f64, u64, usize)> = HashMap::new();
    if leaders.is_empty() {
        return usage;
    }
    let Ok(all) = procfs::process::all_processes() else {
        return usage;
    };
    let ticks = procfs::ticks_per_second() as f64;
    let page_kib = procfs::page_size() / 1024;
    // pid → (parent, session, cpu seconds, rss KiB)
    let table: HashMap<i32, (i32, i32, f64, u64)> = all
        .flatten()
        .filter_map(|p| p.stat().ok())
        .map(|st| {
            let cpu = (st.utime + st.stime) as f64 / ticks;
            (st.pid, (st.ppid, st.session, cpu, st.rss * page_kib))
        })
        .collect();
    for (&pid, &(_, _, cpu, rss)) in &table {
        if let Some(leader) = owner(pid, &table, leaders) {
            let entry = usage.entry(leader).or_default();
            entry.0 += cpu;
            entry.1 += rss;
            entry.2 += 1;
        }
    }
    usage
}

/// The leader of `leaders` whose session `pid` or one of its ancestors belongs to.
fn owner(pid: i32, table: &HashMap<i32, (i32, i32, f64, u64)>, leaders: &[u32]) -> Option<u32> {
    let mut at = pid;
    // A process tree is at most a few dozen deep; the bound only guards against a pid reused
    // into a loop while /proc was read.
    for _ in 0..64 {
        let &(parent, session, _, _) = table.get(&at)?;
        if let Some(leader) = leaders
            .iter()
            .find(|l| i64::from(**l) == i64::from(session))
        {
            return Some(*leader);
        }
        if parent <= 1 {
            return None;
        }
        at = parent;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_names_its_sessions_by_service() {
        let sessions = parse_sessions("mongo 120\nmongo 118\nrabbitmq 77\nnot a line\n");
        assert_eq!(sessions["mongo"], [120, 118]);
        assert_eq!(sessions["rabbitmq"], [77]);
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn a_service_counts_its_session_and_every_descendant() {
        // A shell leading a session, one child, and one child that leaves for a session of its
        // own, as PostgreSQL's backends do.
        let mut leader = std::process::Command::new("setsid")
            .args(["sh", "-c", "sleep 30 & setsid sleep 30 & wait"])
            .spawn()
            .expect("setsid and sh");
        let sid = leader.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = 0;
        while seen < 3 && std::time::Instant::now() < deadline {
            seen = session_usage(&[sid]).get(&sid).map_or(0, |u| u.2);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = std::process::Command::new("kill")
            .args(["--", &format!("-{sid}")])
            .status();
        let _ = leader.wait();
        assert_eq!(
            seen, 3,
            "the shell, its sleep and the sleep in a session of its own"
        );
        assert!(session_usage(&[]).is_empty());
    }
}
