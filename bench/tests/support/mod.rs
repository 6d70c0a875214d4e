//! Real-stack test harness: runs subscribers and the ingress in-process against the servers that
//! `scripts/stack up` started (addresses from the environment, as `.stack/env` exports them), each
//! test in its own database, subjects, queues and topics, cleaned up on Drop.
#![allow(dead_code)]

pub mod hosts;

use std::time::{Duration, Instant};

use brokerbench::{Command, Opts};
use brokerbench_common::counter::CounterMetric;
use brokerbench_common::metrics::Stats;
use brokerbench_common::settings::{BrokerSettings, Middleware};
use clap::Parser;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const LOCATIONS: [&str; 4] = ["Escuintla", "Guatemala", "Petén", "Quetzaltenango"];

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into())
}

pub async fn mongo() -> mongodb::Client {
    mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .expect("MongoDB URI parses")
}

/// A valid case, varied by `i`.
pub fn case(i: usize) -> Value {
    let infectedtype = ["imported", "non-imported", "communitary"][i % 3];
    let state = ["symptomatic", "asymptomatic"][i % 2];
    json!({
        "name": format!("Caso {i}"),
        "location": LOCATIONS[i % LOCATIONS.len()],
        "age": (i % 131) as u64,
        "infectedtype": infectedtype,
        "state": state,
    })
}

/// A MongoDB database of one test's own, dropped when the test ends: tests that call `run` pass
/// `arg()` so they never share collections with each other or with a user's runs.
pub struct OwnDb {
    pub name: String,
}

impl OwnDb {
    pub fn new() -> Self {
        Self {
            name: format!("bbtest_{}", uuid::Uuid::now_v7().simple()),
        }
    }

    pub fn arg(&self) -> String {
        format!("--mongodb-db={}", self.name)
    }
}

/// `brokerbench run` of this package's binary with `extra` options, writing into `db` and a
/// results folder of its own (removed after); the summary and report.html it wrote.
pub async fn run_in_own_db(
    db: &OwnDb,
    extra: &[&str],
) -> (brokerbench::results::summary::Summary, String) {
    let dir = std::env::temp_dir().join(format!("bb-run-{}", new_ns()));
    let mut args = vec![
        "brokerbench".to_string(),
        "run".into(),
        format!("--binary={}", env!("CARGO_BIN_EXE_brokerbench")),
        format!("--results-dir={}", dir.display()),
        db.arg(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let Command::Run(opts) = Opts::parse_from(args).command else {
        panic!("parsed a run")
    };
    let run_dir = brokerbench::run::run(*opts)
        .await
        .expect("the run completes");
    let summary = brokerbench::results::files::read_summary(&run_dir).expect("summary");
    let report = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    let _ = std::fs::remove_dir_all(&dir);
    (summary, report)
}

impl Drop for OwnDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async { mongo().await.database(&name).drop().await })
        })
        .join();
    }
}

/// A running pipeline: an ingress and one subscriber per middleware, isolated by a namespace.
pub struct Pipeline {
    pub ns: String,
    pub db: String,
    pub ingress: String,
    pub subscribers: Vec<(Middleware, String)>,
    pub broker_args: Vec<String>,
    shutdown: CancellationToken,
}

impl Pipeline {
    /// Starts subscribers for `middlewares` and an ingress routing to them; `broker_extra` are
    /// broker options both sides get (e.g. `--nats-mode=core`).
    pub async fn start(middlewares: &[Middleware], routing: &str, broker_extra: &[&str]) -> Self {
        Self::start_in(&new_ns(), middlewares, routing, broker_extra).await
    }

    /// [`Pipeline::start`] with the names of namespace `ns` (see [`isolated_settings`]), for a
    /// test that prepares the broker before the pipeline starts.
    pub async fn start_in(
        ns: &str,
        middlewares: &[Middleware],
        routing: &str,
        broker_extra: &[&str],
    ) -> Self {
        Self::start_with(ns, middlewares, routing, broker_extra, &[]).await
    }

    /// [`Pipeline::start_in`] with `subscriber_extra`, options only the subscribers get (e.g.
    /// `--delivery-limit=3`, `--diagnostics`).
    pub async fn start_with(
        ns: &str,
        middlewares: &[Middleware],
        routing: &str,
        broker_extra: &[&str],
        subscriber_extra: &[&str],
    ) -> Self {
        let ns = ns.to_string();
        let db = format!("bbtest_{ns}");
        let mut settings = isolated_settings(&ns, broker_extra);
        // The gRPC subscriber's socket is bound here and handed over open (as `run` does), so
        // its address is known to the ingress without a port released and bound again.
        let grpc = std::net::TcpListener::bind("127.0.0.1:0").expect("bind gRPC");
        settings.grpc.addr = grpc.local_addr().expect("gRPC addr").to_string();
        let mut grpc = Some(grpc);
        let broker_args = settings.to_args();
        let shutdown = CancellationToken::new();
        let mut subscribers = Vec::new();
        for &m in middlewares {
            let mut args = vec![
                "brokerbench".to_string(),
                "subscriber".into(),
                format!("--middleware={m}"),
            ];
            args.push(format!("--mongodb-db={db}"));
            args.extend(broker_args.iter().cloned());
            args.extend(subscriber_extra.iter().map(|a| a.to_string()));
            if m == Middleware::Grpc
                && let Some(socket) = grpc.take()
            {
                let fd = std::os::fd::IntoRawFd::into_raw_fd(socket);
                args.push(format!("--grpc-listen-fd={fd}"));
            }
            subscribers.push((m, spawn(args, shutdown.clone()).await));
        }
        let mut args = vec![
            "brokerbench".to_string(),
            "ingress".into(),
            format!("--routing={routing}"),
        ];
        let names: Vec<&str> = middlewares.iter().map(|m| m.name()).collect();
        args.push(format!("--middlewares={}", names.join(",")));
        args.extend(broker_args.iter().cloned());
        let ingress = spawn(args, shutdown.clone()).await;
        Self {
            ns,
            db,
            ingress,
            subscribers,
            broker_args,
            shutdown,
        }
    }

    pub fn subscriber(&self, m: Middleware) -> &str {
        &self
            .subscribers
            .iter()
            .find(|(x, _)| *x == m)
            .expect("subscriber started")
            .1
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/", self.ingress))
            .json(body)
            .send()
            .await
            .expect("ingress answers")
    }

    /// Waits until the subscriber of `m` reports `stored + duplicates >= n`, then returns its stats.
    pub async fn wait_stored(&self, m: Middleware, n: u64) -> Stats {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let stats = stats(self.subscriber(m)).await;
            let done = stats.counter(CounterMetric::Stored, Some(m)).unwrap_or(0)
                + stats
                    .counter(CounterMetric::Duplicates, Some(m))
                    .unwrap_or(0);
            if done >= n || Instant::now() > deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn documents(&self, m: Middleware) -> Vec<Document> {
        self.read_all(&m.collection()).await
    }

    /// Path `m`'s dashboard tally once it counts `n` cases (its subscriber adds to it once a
    /// second), or as it stands after 10 s.
    pub async fn wait_tally(&self, m: Middleware, n: u64) -> Document {
        let tallies = mongo()
            .await
            .database(&self.db)
            .collection::<Document>(brokerbench_common::tally::COLLECTION);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tally = tallies
                .find_one(doc! { "_id": m.name() })
                .await
                .expect("read the tallies")
                .unwrap_or_default();
            let counted = brokerbench_common::tally::Tally::from_document(&tally).total;
            if counted >= n || Instant::now() > deadline {
                return tally;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What path `m`'s subscriber set aside in `dead_<path>`.
    pub async fn dead_letters(&self, m: Middleware) -> Vec<Document> {
        self.read_all(&format!("dead_{}", m.name())).await
    }

    async fn read_all(&self, collection: &str) -> Vec<Document> {
        use futures::TryStreamExt;
        let coll = mongo()
            .await
            .database(&self.db)
            .collection::<Document>(collection);
        coll.find(doc! {})
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read documents")
    }
}

impl Pipeline {
    /// The `_id`s in path `m`'s collection.
    pub async fn stored_ids(&self, m: Middleware) -> std::collections::BTreeSet<String> {
        self.documents(m)
            .await
            .iter()
            .map(|d| d.get_str("_id").expect("string _id").to_string())
            .collect()
    }

    /// The broker settings the pipeline's processes use, parsed the same way they parse theirs.
    pub fn settings(&self) -> BrokerSettings {
        broker_settings(self.broker_args.iter().cloned())
    }
}

/// A fresh namespace for one test's streams, queues, topics and database.
pub fn new_ns() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_string()
}

/// The broker settings of a pipeline in namespace `ns`: the environment's, then `broker_extra`,
/// with every path's names of its own.
pub fn isolated_settings(ns: &str, broker_extra: &[&str]) -> BrokerSettings {
    let mut settings = broker_settings(broker_extra.iter().map(|s| s.to_string()));
    settings.isolate(&format!("test-{ns}"));
    settings
}

/// Broker settings parsed the way the processes parse theirs (environment, then `args`).
fn broker_settings(args: impl IntoIterator<Item = String>) -> BrokerSettings {
    let all = ["brokerbench".to_string(), "ingress".into()]
        .into_iter()
        .chain(args);
    match Opts::parse_from(all).command {
        Command::Ingress(opts) => opts.brokers,
        _ => unreachable!("parsed an ingress command"),
    }
}

impl Drop for Pipeline {
    /// Stops the processes, then drops the test's database, streams, queues and topics.
    fn drop(&mut self) {
        self.shutdown.cancel();
        let middlewares: Vec<Middleware> = self.subscribers.iter().map(|(m, _)| *m).collect();
        remove_topology_and_db(self.settings(), middlewares, self.db.clone());
    }
}

/// Removes the streams, queues and topics of `middlewares` under `settings` and drops database
/// `db`, from a thread with a runtime of its own: a test's `Drop` runs inside its runtime.
pub fn remove_topology_and_db(settings: BrokerSettings, middlewares: Vec<Middleware>, db: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for m in middlewares {
                let _ = settings.remove_topology(m).await;
            }
            mongo().await.database(&db).drop().await
        })
    })
    .join();
}

/// Runs a `brokerbench` role in-process on a free port and waits for its /healthz.
pub async fn spawn(mut args: Vec<String>, shutdown: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    args.push(format!("--listen={}", listener.local_addr().expect("addr")));
    let role = args[1].clone();
    let task = match Opts::parse_from(&args).command {
        Command::Subscriber(opts) => {
            tokio::spawn(brokerbench::subscriber::run(opts, listener, shutdown))
        }
        Command::Ingress(opts) => tokio::spawn(brokerbench::ingress::run(opts, listener, shutdown)),
        other => panic!("not a server role: {other:?}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if task.is_finished() {
            panic!("{role} stopped at start: {:?}", task.await);
        }
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        if let Ok(r) = probe.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return url;
        }
        assert!(
            Instant::now() < deadline,
            "{role} did not become healthy: {args:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn stats(base: &str) -> Stats {
    reqwest::get(format!("{base}/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON")
}
