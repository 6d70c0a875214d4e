//! `brokerbench serve`: the dashboard (runs, stored cases, host) on loopback.

use std::path::PathBuf;

use brokerbench_common::settings::MongoSettings;
use clap::Args;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args)]
pub struct ServeOpts {
    /// Address of the dashboard.
    #[arg(long, env = "BB_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Folder holding the runs.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    #[command(flatten)]
    pub mongo: MongoSettings,
}

pub async fn run(opts: ServeOpts, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _ = (opts, listener, shutdown);
    Ok(())
}
