//! The built-in generator on threads of its own, at a nice value of its own: its schedule must
//! stay on time while the pipeline it loads keeps both cores busy, and with the runner's other
//! work (sampling, scraping) on the same runtime its sends were late by milliseconds.
//!
//! Linux keeps the nice value per thread and a thread inherits its creator's, so the thread made
//! here, the runtime's workers it starts and the generator's schedule thread all get it; the
//! runner's other threads and the processes it spawns keep theirs.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::loadgen::{LoadConfig, LoadStats, LoadWindow, generate};

/// The running generator: resolves when its last request was answered or given up on.
pub(super) struct GeneratorThread {
    done: oneshot::Receiver<()>,
}

impl GeneratorThread {
    /// Starts the generator on a thread (and a two-worker runtime) at nice `nice`. A nice value
    /// the process may not take (below 0 without root) is warned about and the generator runs at
    /// the runner's own.
    pub fn start(
        nice: i32,
        config: LoadConfig,
        stats: Arc<LoadStats>,
        window: LoadWindow,
    ) -> anyhow::Result<Self> {
        let (tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("bb-generator".into())
            .spawn(move || {
                if let Err(e) = set_thread_nice(nice) {
                    tracing::warn!(nice, error = %e, "the generator keeps the runner's priority");
                }
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("bb-generator-worker")
                    .enable_all()
                    .build();
                match runtime {
                    Ok(rt) => rt.block_on(generate(config, stats, window)),
                    Err(e) => tracing::error!(error = %e, "cannot start the generator's runtime"),
                }
                let _ = tx.send(());
            })?;
        Ok(Self { done })
    }

    /// Waits until the generator has finished.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.done
            .await
            .map_err(|_| anyhow::anyhow!("the load generator's thread ended early"))
    }
}

/// Sets the calling thread's nice value (Linux: per thread; threads it creates inherit it).
fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    // SAFETY: gettid and setpriority take no pointers; they act on the calling thread only.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value lands on the thread that set it, not on its neighbours.
    #[test]
    fn a_thread_raised_in_nice_keeps_it_to_itself() {
        let read =
            || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        let before = read();
        let raised = (before + 5).min(19);
        let inside = std::thread::spawn(move || {
            set_thread_nice(raised).expect("raising one's own nice needs no privilege");
            let child = std::thread::spawn(read).join().expect("child thread");
            (read(), child)
        })
        .join()
        .expect("thread");
        assert_eq!(inside, (raised, raised), "the thread and the one it made");
        assert_eq!(read(), before, "the test's own thread is untouched");
    }
}
