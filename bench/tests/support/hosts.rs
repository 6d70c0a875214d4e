//! A set of simulated hosts (`scripts/hosts`) of one test's own, under its own prefix, taken down
//! on drop with every process still running in it.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/hosts");

pub struct HostSet {
    pub prefix: String,
}

impl HostSet {
    pub fn new() -> Self {
        assert!(
            is_root(),
            "simulated hosts need root: run the tests as root, as CI does"
        );
        let id = uuid::Uuid::now_v7().simple().to_string();
        Self {
            prefix: format!("t{}", &id[id.len() - 5..]),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(SCRIPT);
        command.args(args).env("HOSTS_PREFIX", &self.prefix);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("scripts/hosts runs")
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command.output().expect("scripts/hosts runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "scripts/hosts {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `program args` on host `k` with `env`, its output in `log`; it dies with the set.
    pub fn spawn(
        &self,
        k: u8,
        program: &str,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Child {
        let host = k.to_string();
        let log = std::fs::File::create(log).expect("log file");
        self.command(&["exec", &host, program])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} on h{k}: {e}"))
    }

    /// Waits until host `from` can open a TCP connection to `host:port`.
    pub fn wait_listening(&self, from: u8, host: &str, port: u16) {
        let probe = format!("exec 3<>/dev/tcp/{host}/{port}");
        self.wait_for(&format!("{host}:{port} listening"), || {
            self.run(&["exec", &from.to_string(), "bash", "-c", &probe])
                .status
                .success()
        });
    }

    /// Waits until host `from` gets 200 from `url`/healthz.
    pub fn wait_healthy(&self, from: u8, url: &str) {
        let health = format!("{url}/healthz");
        self.wait_for(&format!("{url} healthy"), || {
            let got = self.run(&[
                "exec",
                &from.to_string(),
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &health,
            ]);
            got.stdout == b"200"
        });
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What of the set exists on the machine: its namespaces and `/etc/netns` entries.
    pub fn leftovers(&self) -> Vec<String> {
        let namespaces = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        let mine = |name: &str| name.starts_with(&format!("{}-", self.prefix));
        let mut left: Vec<String> = String::from_utf8_lossy(&namespaces.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| mine(n))
            .map(|n| format!("namespace {n}"))
            .collect();
        if let Ok(entries) = std::fs::read_dir("/etc/netns") {
            let names = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned());
            left.extend(names.filter(|n| mine(n)).map(|n| format!("/etc/netns/{n}")));
        }
        left
    }
}

impl Drop for HostSet {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
