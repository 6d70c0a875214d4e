//! The fixture's CSV rows and host file: the per-second series, the resources and a sweep's
//! steps, with figures that follow from the fixture's paths and latencies.

use std::path::Path;

use brokerbench::results::resources::UsageSource;
use brokerbench::results::role::Role;
use brokerbench::results::rows::{self, ResourceRow, SeriesRow, SweepRow};
use brokerbench_common::latency::LatencyMetric;
use brokerbench_common::settings::Middleware;

use super::{PATHS, SECONDS, base_us};

/// Writes `sweep.csv` into `dir`: nats keeps up to 400/s, grpc falls behind there.
pub(super) fn write_sweep_rows(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create sweep folder");
    let mut steps = Vec::new();
    for m in PATHS {
        for (i, rate) in [100.0, 200.0, 400.0].into_iter().enumerate() {
            let behind = m == Middleware::Grpc && rate > 300.0;
            let p50 = base_us(m, LatencyMetric::E2e, 1) * (i as u64 + 1);
            steps.push(SweepRow {
                middleware: m.to_string(),
                repeat: 0,
                offered_per_s: rate,
                achieved_per_s: rate,
                stored_per_s: if behind { 310.0 } else { rate },
                e2e_p50_us: p50,
                e2e_p99_us: p50 * 4,
                e2e_p999_us: p50 * 6,
                http_corrected_p99_us: p50,
                unanswered_requests: 0,
                unstored_at_deadline: 0,
                consistent: true,
                limited_by: if behind { "store" } else { "kept up" }.into(),
            });
        }
    }
    rows::append(&dir.join("sweep.csv"), steps).expect("sweep.csv");
}

pub(super) fn write_series(dir: &Path) {
    let mut series = Vec::new();
    let mut resources = Vec::new();
    for t in 0..=SECONDS {
        for m in PATHS {
            let p99 = base_us(m, LatencyMetric::E2e, 1) * 3 + t * 100;
            series.push(SeriesRow {
                repeat: 0,
                middleware: m,
                t_s: t as f64,
                offered_per_s: 200.0,
                accepted_per_s: 199.0,
                stored_per_s: (190 + t) as f64,
                e2e_p99_us: Some(p99),
                http_corrected_p99_us: Some(p99 + 500),
                client_queue: 0.0,
                ingress_in_flight: 4.0,
                broker_backlog: (t * 20) as f64,
                broker_ready: Some((t * 15) as f64),
                sink_backlog: 30.0,
                store_busy: Some(0.5),
            });
        }
        for (pid, role) in [
            (100, Role::Ingress),
            (101, Role::Subscriber(Middleware::Nats)),
        ] {
            resources.push(ResourceRow {
                repeat: 0,
                paths: "grpc+nats".into(),
                t_s: t as f64,
                role,
                pid,
                name: "brokerbench".into(),
                cpu_seconds: t as f64,
                rss_kib: 30000,
                host_used_kib: Some(1_000_000 + t * 2048),
                host_total_kib: Some(24683656),
                host_source: Some(brokerbench_common::host::HostSource::Proc),
                read_from: UsageSource::Processes,
                disk_write_bytes: None,
                disk_write_ops: None,
            });
        }
    }
    rows::append(&dir.join("timeseries.csv"), series).expect("write timeseries");
    rows::append(&dir.join("resources.csv"), resources).expect("write resources");
}

pub(super) fn write_host(dir: &Path) {
    let host = serde_json::json!({
        "ram": brokerbench_common::host::read_ram().ok(),
        "processes": brokerbench_common::host::read_processes().ok(),
    });
    std::fs::write(dir.join("host.json"), host.to_string()).expect("write host.json");
}
