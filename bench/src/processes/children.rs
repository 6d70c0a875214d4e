//! The ingress and subscribers of a run, as child processes of the runner: real processes, so
//! their CPU and memory can be measured apart and one can be stalled with SIGSTOP.

use std::os::fd::{AsRawFd as _, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use brokerbench_common::metrics::Stats;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::cgroup::OwnCgroup;

pub struct RoleProcess {
    pub role: String,
    /// `http://127.0.0.1:<port>` of the socket the runner bound for it.
    pub url: String,
    /// The sockets it serves on, bound by the runner and kept open for as long as this handle
    /// lives: a restart hands the same ones down again, so it can never lose its address.
    sockets: Vec<Inherited>,
    child: Child,
    /// How it was started, so that a fault can start it again.
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Its own cgroup (as root), kept across a restart so that its counters continue.
    cgroup: Option<Arc<OwnCgroup>>,
}

/// A listening socket the runner bound and hands down to a child as `<flag>=<descriptor>`.
#[derive(Clone)]
pub struct Inherited {
    pub flag: &'static str,
    pub socket: Arc<std::net::TcpListener>,
}

impl Inherited {
    /// Binds a loopback socket on a port the kernel chooses, to be handed down as `flag`.
    pub fn bind(flag: &'static str) -> anyhow::Result<Self> {
        let socket = std::net::TcpListener::bind("127.0.0.1:0")
            .context("cannot bind a loopback socket for a child process")?;
        Ok(Self {
            flag,
            socket: Arc::new(socket),
        })
    }

    pub fn addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

impl RoleProcess {
    /// Starts `brokerbench <args>` serving HTTP on a loopback socket the runner binds and keeps
    /// (`--listen-fd`), plus any `extra` sockets (e.g. a gRPC subscriber's); output to `log`.
    pub async fn spawn(
        binary: &Path,
        role: &str,
        args: &[String],
        log: &Path,
        extra: Vec<Inherited>,
    ) -> anyhow::Result<Self> {
        let http = Inherited::bind("--listen-fd")?;
        let url = format!("http://{}", http.addr()?);
        let sockets: Vec<Inherited> = std::iter::once(http).chain(extra).collect();
        // Named after its log (e.g. `nats-r0-subscriber`): unique among the run's processes.
        let name = log.file_stem().map_or(role.into(), |s| s.to_string_lossy());
        let scope = format!("run-{}", std::process::id());
        let cgroup = OwnCgroup::create(&scope, &name).map(Arc::new);
        let child = start(binary, args, log, &sockets, cgroup.as_deref())?;
        Ok(Self {
            role: role.into(),
            url,
            sockets,
            child,
            binary: binary.to_path_buf(),
            args: args.to_vec(),
            log: log.to_path_buf(),
            cgroup,
        })
    }

    /// Starts it again on the same sockets (so its URL stays valid), after it was killed;
    /// output goes to `<log>.restarted.log`.
    pub async fn respawn(&self) -> anyhow::Result<Self> {
        let log = self.log.with_extension("restarted.log");
        let cgroup = self.cgroup.as_deref();
        let child = start(&self.binary, &self.args, &log, &self.sockets, cgroup)?;
        Ok(Self {
            role: self.role.clone(),
            url: self.url.clone(),
            sockets: self.sockets.clone(),
            child,
            binary: self.binary.clone(),
            args: self.args.clone(),
            log,
            cgroup: self.cgroup.clone(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits until `/healthz` answers, failing early if the process exits.
    pub async fn wait_healthy(&mut self, timeout: Duration, log: &Path) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.role,
                    log.display()
                );
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not healthy after {timeout:?}; see {}",
                    self.role,
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then up to 15 s to drain and exit, then SIGKILL.
    pub async fn stop(mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "TERM");
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.remove();
        }
    }
}

/// Spawns `binary args`, handing `sockets` down as open descriptors named by their flags.
fn start(
    binary: &Path,
    args: &[String],
    log: &Path,
    sockets: &[Inherited],
    cgroup: Option<&OwnCgroup>,
) -> anyhow::Result<Child> {
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let err = out.try_clone()?;
    let fds: Vec<RawFd> = sockets.iter().map(|s| s.socket.as_raw_fd()).collect();
    let mut command = Command::new(binary);
    command
        .args(args)
        .args(
            sockets
                .iter()
                .map(|s| format!("{}={}", s.flag, s.socket.as_raw_fd())),
        )
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    // SAFETY: runs in the forked child before exec and calls only fcntl, which is
    // async-signal-safe; it clears close-on-exec on the sockets the child is to inherit (the
    // descriptor flags are the child's own after the fork, so the runner's are untouched).
    unsafe {
        command.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    if let (Some(cgroup), Some(pid)) = (cgroup, child.id()) {
        cgroup.add(pid);
    }
    Ok(child)
}

/// Sends a signal by name with the system's `kill`, e.g. STOP / CONT for the stall diagnostic.
pub fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Waits (up to 10 s) until process `pid` is gone or a zombie, so that it accepts from its
/// sockets no more before another takes them over.
pub async fn wait_dead(pid: u32) {
    for _ in 0..200 {
        let state = procfs::process::Process::new(pid as i32).and_then(|p| p.stat());
        match state {
            Ok(stat) if stat.state != 'Z' => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => return,
        }
    }
}

/// The `brokerbench` binary to run roles with: `--binary`, else this very executable.
pub fn binary(explicit: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe().context("cannot locate the brokerbench binary"),
    }
}

/// A role's `/stats`, or none if it did not answer within 3 s.
pub async fn fetch_stats(client: &reqwest::Client, base: &str) -> Option<Stats> {
    let response = client
        .get(format!("{base}/stats"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}
