use super::*;

/// A generator configuration without retries, for these tests.
fn config(url: String, rate: f64, cases_per_request: usize, connections: usize) -> LoadConfig {
    LoadConfig {
        urls: vec![url],
        rate,
        cases_per_request,
        connections,
        seed: 1,
        key_prefix: "t".into(),
        retries: 0,
    }
}

#[test]
fn schedule_is_exact_and_never_drifts() {
    let config = config(String::new(), 1_000.0, 10, 1);
    assert_eq!(config.request_rate(), 100.0);
    let offsets: Vec<Duration> = schedule(config.request_rate(), Duration::from_secs(2)).collect();
    assert_eq!(offsets.len(), 200, "2 s at 100 requests/s");
    for (i, at) in offsets.iter().enumerate() {
        assert_eq!(
            *at,
            Duration::from_millis(10) * i as u32,
            "request {i} off schedule"
        );
    }
    let odd = schedule(3.0, Duration::from_secs(100)).count();
    assert_eq!(
        odd, 300,
        "a rate with no exact interval still sends rate × span requests"
    );
}

/// An unreachable ingress: every request fails, none is counted as a success, and the
/// lateness of every request is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_go_to_the_error_histogram_and_every_request_is_accounted_for() {
    // Bound but never listening, and held for the whole test: every connect is refused, and no
    // other process can take the port meanwhile (a released port could be).
    let refusing = tokio::net::TcpSocket::new_v4().expect("socket");
    refusing
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = refusing.local_addr().expect("addr");
    let stats = Arc::new(LoadStats::default());
    let config = config(format!("http://{addr}"), 200.0, 1, 4);
    let load = LoadWindow {
        start: Instant::now(),
        wall_start_ns: brokerbench_common::envelope::now_ns(),
        span: Duration::from_millis(250),
        answer_deadline: Duration::from_secs(5),
    };
    generate(config, stats.clone(), load).await;
    assert_eq!(stats.sent_requests.get(), 50);
    assert_eq!(stats.transport_errors.get(), 50);
    assert_eq!(stats.http_2xx.get(), 0);
    assert_eq!(
        stats.corrected.snapshot(None).len(),
        0,
        "no success was recorded"
    );
    assert_eq!(stats.errors.snapshot(None).len(), 50);
    assert_eq!(stats.lateness.snapshot(None).len(), 50);
}

/// A server that never answers: at the deadline every request is counted unanswered and
/// recorded as at least the time it waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_unanswered_at_the_deadline_are_recorded_not_dropped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let stats = Arc::new(LoadStats::default());
    let config = config(format!("http://{addr}"), 100.0, 1, 64);
    let deadline = Duration::from_millis(400);
    let load = LoadWindow {
        start: Instant::now(),
        wall_start_ns: brokerbench_common::envelope::now_ns(),
        span: Duration::from_millis(100),
        answer_deadline: deadline,
    };
    generate(config, stats.clone(), load).await;
    silent.abort();
    assert_eq!(stats.sent_requests.get(), 10);
    assert_eq!(
        stats.unanswered.get() + stats.transport_errors.get(),
        10,
        "every request ended unanswered"
    );
    let errors = stats.errors.snapshot(None);
    assert_eq!(errors.len(), 10);
    assert!(
        errors.min() >= 300_000,
        "each waited at least until the deadline: min {} µs",
        errors.min()
    );
}
