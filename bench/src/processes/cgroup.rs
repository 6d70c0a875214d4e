//! Control groups of our own, so that a service's or child's cost is everything it ran and
//! nothing else: a cgroup's CPU counter keeps the time of processes that have exited (a
//! per-process sample loses it), its memory counter sees every process of the service at once,
//! and it counts the bytes and operations the service wrote to disk, which no process table
//! holds. `scripts/stack` puts each service it starts into `<its own cgroup>/brokerbench/
//! stack-<hash>/<service>`, the runner each child into `…/brokerbench/run-<pid>/<role>`; a
//! process in a cgroup under `brokerbench` is sampled from it, any other from `/proc`.
//!
//! cgroup v1 (`cpuacct`, `memory`, `blkio` mounted apart or together) and v2 are both read.
//! Measured on this machine's kernel (6.18, v1): `blkio.throttle.io_service_bytes` stays 0 for
//! a cgroup without a throttle rule, so every cgroup made here gets a rule of 1 PB/s per disk,
//! which counts and never throttles. Writes the service's processes submit (`fsync`,
//! `O_DSYNC`, direct I/O: how every durable profile here writes) are charged to it; dirty pages
//! the kernel's flusher writes back later are not (v1 cannot tell whose they were), so the disk
//! figures are a lower bound for a service that writes without syncing.

use std::path::{Path, PathBuf};

use crate::results::resources::DiskWrites;

const ROOT: &str = "/sys/fs/cgroup";
/// The folder under which every cgroup of ours lives.
const OURS: &str = "brokerbench";
/// The throttle rule that only turns counting on (bytes/s).
const COUNT_ONLY_BPS: u64 = 1_000_000_000_000_000;

/// A cgroup's usage so far: cumulative CPU and disk writes, current memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgroupUsage {
    pub cpu_seconds: f64,
    /// Memory in use less the page cache the kernel may drop (the working set, as Kubernetes
    /// counts it: usage − inactive file pages).
    pub memory_kib: Option<u64>,
    pub disk_writes: Option<DiskWrites>,
}

/// One line of `/proc/<pid>/cgroup`: its controllers (empty for v2) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    controllers: String,
    path: String,
}

fn memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(Membership {
                controllers: controllers.to_string(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The folder of the hierarchy holding `controller` (v1), or the v2 one.
fn folder(members: &[Membership], controller: &str) -> Option<PathBuf> {
    let v1 = members
        .iter()
        .find(|m| m.controllers.split(',').any(|c| c == controller));
    match v1 {
        Some(m) => Some(Path::new(ROOT).join(&m.controllers).join(relative(&m.path))),
        None => members
            .iter()
            .find(|m| m.controllers.is_empty() && is_v2())
            .map(|m| Path::new(ROOT).join(relative(&m.path))),
    }
}

fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn is_v2() -> bool {
    Path::new(ROOT).join("cgroup.controllers").is_file()
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn ours(dir: &Path) -> bool {
    dir.components().any(|c| c.as_os_str() == OURS)
}

/// A service's or child's own cgroup, remembered by where it is rather than by its process: one
/// killed by a fault and started again re-enters it (`scripts/stack up`, a respawned child), so
/// it is read on across the restart, its CPU and disk counters continuing the killed one's.
#[derive(Debug, Clone)]
pub struct TrackedCgroup {
    name: String,
    members: Vec<Membership>,
}

impl TrackedCgroup {
    /// Process `pid`'s cgroup, when it is one of ours (made for this service or child alone);
    /// `None` for any other process.
    pub fn of_process(pid: u32) -> Option<Self> {
        let members = memberships(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?);
        let cpu = folder(&members, "cpuacct").filter(|d| ours(d))?;
        let name = cpu.file_name()?.to_string_lossy().into_owned();
        Some(Self { name, members })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its usage now; `None` once the cgroup is gone (its service stopped).
    pub fn usage(&self) -> Option<CgroupUsage> {
        usage(&self.members)
    }
}

fn usage(members: &[Membership]) -> Option<CgroupUsage> {
    let cpu = folder(members, "cpuacct").filter(|d| ours(d))?;
    let v2 = !members.iter().any(|m| m.controllers.contains("cpuacct"));
    let cpu_seconds = if v2 {
        v2_cpu_seconds(&read(&cpu, "cpu.stat")?)?
    } else {
        read(&cpu, "cpuacct.usage")?.trim().parse::<u64>().ok()? as f64 / 1e9
    };
    let memory = folder(members, "memory").filter(|d| ours(d));
    let memory_kib = memory.and_then(|dir| {
        let (usage, stat) = if v2 {
            (read(&dir, "memory.current")?, read(&dir, "memory.stat")?)
        } else {
            (
                read(&dir, "memory.usage_in_bytes")?,
                read(&dir, "memory.stat")?,
            )
        };
        working_set_kib(usage.trim().parse().ok()?, &stat, v2)
    });
    let blkio = folder(members, if v2 { "io" } else { "blkio" }).filter(|d| ours(d));
    let disk_writes = blkio.and_then(|dir| {
        if v2 {
            Some(v2_disk_writes(&read(&dir, "io.stat")?))
        } else {
            Some(DiskWrites {
                bytes: v1_writes(&read(&dir, "blkio.throttle.io_service_bytes")?),
                ops: v1_writes(&read(&dir, "blkio.throttle.io_serviced")?),
            })
        }
    });
    Some(CgroupUsage {
        cpu_seconds,
        memory_kib,
        disk_writes,
    })
}

fn v2_cpu_seconds(stat: &str) -> Option<f64> {
    let usec = stat_field(stat, "usage_usec")?;
    Some(usec as f64 / 1e6)
}

fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn working_set_kib(usage_bytes: u64, stat: &str, v2: bool) -> Option<u64> {
    let inactive = stat_field(
        stat,
        if v2 {
            "inactive_file"
        } else {
            "total_inactive_file"
        },
    )?;
    Some(usage_bytes.saturating_sub(inactive) / 1024)
}

/// The sum of the `MAJ:MIN Write N` lines of a v1 blkio file.
fn v1_writes(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, op, n) = (fields.next()?, fields.next()?, fields.next()?);
            (op == "Write").then(|| n.parse::<u64>().ok()).flatten()
        })
        .sum()
}

/// The sum of `wbytes=` and `wios=` over the devices of a v2 `io.stat`.
fn v2_disk_writes(text: &str) -> DiskWrites {
    let mut writes = DiskWrites::default();
    for field in text.split_whitespace() {
        if let Some((key, value)) = field.split_once('=') {
            let n: u64 = value.parse().unwrap_or(0);
            match key {
                "wbytes" => writes.bytes += n,
                "wios" => writes.ops += n,
                _ => {}
            }
        }
    }
    writes
}

/// A cgroup this process made for one child, in every hierarchy that could take it.
pub struct OwnCgroup {
    dirs: Vec<PathBuf>,
}

impl OwnCgroup {
    /// `<this process's cgroup>/brokerbench/<scope>/<name>` in each hierarchy whose folder can
    /// be written (as root); `None` when none can. Empty cgroups of runs whose runner is gone
    /// are removed on the way.
    pub fn create(scope: &str, name: &str) -> Option<Self> {
        let members = memberships(&std::fs::read_to_string("/proc/self/cgroup").ok()?);
        let controllers: &[&str] = if members.iter().any(|m| m.controllers.contains("cpuacct")) {
            &["cpuacct", "memory", "blkio"]
        } else {
            &["cpu"]
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        for controller in controllers {
            let Some(base) = folder(&members, controller) else {
                continue;
            };
            let ours = base.join(OURS);
            remove_abandoned_runs(&ours);
            let dir = ours.join(scope).join(name);
            if dirs.contains(&dir) || std::fs::create_dir_all(&dir).is_err() {
                continue;
            }
            if *controller == "blkio" {
                count_disk_writes(&dir);
            }
            dirs.push(dir);
        }
        (!dirs.is_empty()).then_some(Self { dirs })
    }

    /// Moves process `pid` (with its threads) into this cgroup; its children follow it.
    pub fn add(&self, pid: u32) {
        for dir in &self.dirs {
            let _ = std::fs::write(dir.join("cgroup.procs"), pid.to_string());
        }
    }

    /// Removes the cgroup once its processes are gone (a cgroup with processes stays).
    pub fn remove(&self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
            if let Some(scope) = dir.parent() {
                let _ = std::fs::remove_dir(scope);
            }
        }
    }
}

/// A throttle rule far above any disk's speed on every disk, so that v1 counts the writes.
fn count_disk_writes(dir: &Path) {
    let Ok(disks) = std::fs::read_dir("/sys/block") else {
        return;
    };
    for disk in disks.flatten() {
        let name = disk.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
            continue;
        }
        if let Some(dev) = read(&disk.path(), "dev") {
            let rule = format!("{} {COUNT_ONLY_BPS}", dev.trim());
            let _ = std::fs::write(dir.join("blkio.throttle.write_bps_device"), rule);
        }
    }
}

/// `run-<pid>` folders of runners that no longer run, with their (empty) cgroups.
fn remove_abandoned_runs(ours: &Path) {
    let Ok(scopes) = std::fs::read_dir(ours) else {
        return;
    };
    for scope in scopes.flatten() {
        let name = scope.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("run-") else {
            continue;
        };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(scope.path()) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(scope.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_memberships_are_told_apart() {
        let m = memberships("4:memory:/process_api/ab\n2:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].controllers, "memory");
        assert_eq!(m[0].path, "/process_api/ab");
        assert_eq!(
            folder(&m, "cpuacct"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/"))
        );
        assert_eq!(
            folder(&m, "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/ab"))
        );
    }

    #[test]
    fn v1_blkio_counts_only_writes_over_every_device() {
        let text = "254:0 Read 10\n254:0 Write 4096\n254:0 Sync 4096\n254:0 Total 4106\n\
                    254:16 Write 8192\nTotal 12298\n";
        assert_eq!(v1_writes(text), 12_288);
    }

    #[test]
    fn v2_io_stat_sums_wbytes_and_wios() {
        let text = "254:0 rbytes=1 wbytes=4096 rios=1 wios=2 dbytes=0 dios=0\n\
                    254:16 rbytes=0 wbytes=100 rios=0 wios=1 dbytes=0 dios=0\n";
        assert_eq!(
            v2_disk_writes(text),
            DiskWrites {
                bytes: 4196,
                ops: 3
            }
        );
    }

    #[test]
    fn the_working_set_leaves_out_inactive_page_cache() {
        let v1 = "cache 100\nrss 50\ntotal_inactive_file 1048576\n";
        assert_eq!(working_set_kib(3 * 1_048_576, v1, false), Some(2048));
        let v2 = "anon 5\ninactive_file 2048\n";
        assert_eq!(working_set_kib(4096, v2, true), Some(2));
        assert_eq!(working_set_kib(4096, "anon 5\n", true), None);
    }

    #[test]
    fn v2_cpu_is_read_from_usage_usec() {
        let stat = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        assert_eq!(v2_cpu_seconds(stat), Some(2.5));
    }
}
