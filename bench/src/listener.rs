//! Where a server role listens: a socket it binds itself (`--listen`), or one its parent bound
//! and handed down as an open file descriptor (`--listen-fd`).
//!
//! `run` binds every child's sockets itself and keeps them open for the whole run, so a child
//! killed by a fault and started again serves on the very same socket. Re-binding the address
//! instead raced every other socket on the machine: a port from the ephemeral range that its
//! owner released can be handed to any outgoing connection meanwhile, and once was ("Address
//! already in use" on a restarted subscriber, a fresh-machine `make test`).

use std::os::fd::{FromRawFd as _, RawFd};

use tokio::net::TcpListener;

/// The listener of a server role: inherited descriptor `fd` if given, else a fresh bind of `addr`.
pub async fn open(addr: &str, fd: Option<RawFd>) -> anyhow::Result<TcpListener> {
    match fd {
        Some(fd) => inherited("--listen-fd", fd),
        None => TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}")),
    }
}

/// Takes ownership of listening socket `fd`, inherited from the parent process and named by the
/// option `flag` (for the messages).
pub fn inherited(flag: &str, fd: RawFd) -> anyhow::Result<TcpListener> {
    anyhow::ensure!(
        fd > 2,
        "{flag} {fd}: descriptors 0-2 are stdin, stdout and stderr"
    );
    // Checked before taking it over: an open descriptor of this process, and a socket.
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|e| anyhow::anyhow!("{flag} {fd}: not an open descriptor: {e}"))?;
    anyhow::ensure!(
        target.to_string_lossy().starts_with("socket:"),
        "{flag} {fd}: {} is not a socket",
        target.display()
    );
    // SAFETY: `fd` is an open socket of this process (checked above), handed down by the parent
    // for this process to own, and named by exactly one option, so it is taken over only once.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let addr = listener
        .local_addr()
        .map_err(|e| anyhow::anyhow!("{flag} {fd}: not a bound TCP socket: {e}"))?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
        .map_err(|e| anyhow::anyhow!("{flag} {fd}: cannot serve on {addr}: {e}"))
}
