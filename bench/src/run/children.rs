//! The ingress and subscribers of a run, as child processes of the runner: real processes, so
//! their CPU and memory can be measured apart and one can be stalled with SIGSTOP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

pub struct RoleProcess {
    pub role: String,
    /// `http://127.0.0.1:<port>`, known once the process announced its address.
    pub url: String,
    address_file: PathBuf,
    child: Child,
    /// How it was started, so that a fault can start it again.
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
}

impl RoleProcess {
    /// Starts `brokerbench <args>` on a loopback port of its own choosing (port 0; it writes the
    /// address it got next to `log`), output to `log`.
    pub async fn spawn(
        binary: &Path,
        role: &str,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_on(binary, role, args, log, "127.0.0.1:0").await
    }

    /// Starts it again on the address it had (so its URL stays valid), after it was killed;
    /// output goes to `<log>.restarted`.
    pub async fn respawn(&self) -> anyhow::Result<Self> {
        let listen = self.url.trim_start_matches("http://").to_string();
        let log = self.log.with_extension("restarted.log");
        let mut p = Self::spawn_on(&self.binary, &self.role, &self.args, &log, &listen).await?;
        p.url = self.url.clone();
        Ok(p)
    }

    async fn spawn_on(
        binary: &Path,
        role: &str,
        args: &[String],
        log: &Path,
        listen: &str,
    ) -> anyhow::Result<Self> {
        let address_file = log.with_extension("address");
        let _ = std::fs::remove_file(&address_file);
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot write {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .args(args)
            .arg(format!("--listen={listen}"))
            .arg(format!("--address-file={}", address_file.display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Self {
            role: role.into(),
            url: String::new(),
            address_file,
            child,
            binary: binary.to_path_buf(),
            args: args.to_vec(),
            log: log.to_path_buf(),
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
            if self.url.is_empty()
                && let Ok(addr) = std::fs::read_to_string(&self.address_file)
            {
                self.url = format!("http://{}", addr.trim());
            }
            if !self.url.is_empty()
                && let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await
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
    }
}

/// Sends a signal by name with the system's `kill`, e.g. STOP / CONT for the stall diagnostic.
pub fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Waits (up to 10 s) until process `pid` is gone or a zombie: its sockets are closed then, so
/// its address can be taken again.
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
