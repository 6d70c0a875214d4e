//! Slow and idle clients cannot hold a server (slowloris): a client that sends its headers a
//! byte at a time, or nothing at all, is closed at the header deadline, and while up to the
//! connection cap are held open, `/healthz` still answers at once. All three servers (ingress,
//! subscriber, dashboard) serve through the same code; the ingress is tested.

use crate::support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// An ingress on a free port with `extra` options, stopped when the token is dropped.
async fn ingress(extra: &[&str]) -> (String, tokio_util::sync::DropGuard) {
    let settings = support::isolated_settings(&support::new_ns(), &[]);
    let mut args = vec![
        "brokerbench".to_string(),
        "ingress".into(),
        "--routing=single".into(),
        "--middlewares=nats".into(),
    ];
    args.extend(settings.to_args());
    args.extend(extra.iter().map(|a| a.to_string()));
    let shutdown = CancellationToken::new();
    let url = support::spawn(args, shutdown.clone()).await;
    (url, shutdown.drop_guard())
}

fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Whether the server closed `socket` within `within` (a read sees the end or an error).
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let read = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, read).await.is_ok()
}

/// One `/healthz` on a fresh connection: its answer time, or None if it took over `limit`.
async fn healthz(url: &str, limit: Duration) -> Option<Duration> {
    let client = reqwest::Client::builder()
        .timeout(limit)
        .build()
        .expect("client");
    let start = Instant::now();
    let response = client.get(format!("{url}/healthz")).send().await.ok()?;
    response.bytes().await.ok()?;
    Some(start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_clients_leave_healthz_answering_and_are_closed_at_the_deadline() {
    const SLOW: usize = 2_000;
    let (url, _stop) = ingress(&["--header-timeout=5s"]).await;
    let mut sockets = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut socket = TcpStream::connect(addr(&url)).await.expect("connect");
        socket
            .write_all(b"POST / HTTP/1.1\r\nX")
            .await
            .expect("a first header byte");
        sockets.push(socket);
    }
    let opened = Instant::now();
    // One byte more each on half of them: a client still sending is held no longer.
    for socket in sockets.iter_mut().step_by(2) {
        let _ = socket.write_all(b"-").await;
    }
    let mut answers = Vec::new();
    for _ in 0..15 {
        let answer = healthz(&url, Duration::from_secs(2)).await;
        answers.push(answer.expect("/healthz answered within 2 s beside the slow clients"));
    }
    assert!(
        opened.elapsed() < Duration::from_secs(4),
        "the probes ran after the deadline ({:?}): they proved nothing",
        opened.elapsed()
    );
    answers.sort();
    let median = answers[answers.len() / 2];
    println!(
        "/healthz beside {SLOW} slow clients: median {median:?}, slowest {:?}",
        answers.last()
    );
    assert!(median < Duration::from_millis(100), "median {median:?}");
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert!(
            closed_within(socket, Duration::from_secs(10)).await,
            "slow client {i} still open 10 s after a 5 s header deadline"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_new_client_waits_until_idle_ones_are_closed() {
    const CAP: usize = 20;
    let (url, _stop) = ingress(&["--header-timeout=2s", &format!("--max-connections={CAP}")]).await;
    let mut idle = Vec::with_capacity(CAP);
    for _ in 0..CAP {
        idle.push(TcpStream::connect(addr(&url)).await.expect("connect"));
    }
    // The cap is taken by clients that send nothing: the next one is not served...
    let early = healthz(&url, Duration::from_millis(700)).await;
    assert_eq!(early, None, "served beyond a cap of {CAP} connections");
    // ...until the header deadline closes them.
    for socket in &mut idle {
        assert!(
            closed_within(socket, Duration::from_secs(10)).await,
            "an idle client still open 10 s after a 2 s header deadline"
        );
    }
    let late = healthz(&url, Duration::from_secs(5)).await;
    assert!(
        late.is_some(),
        "/healthz not answered once the idle clients were gone"
    );
}
