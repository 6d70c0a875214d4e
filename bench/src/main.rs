use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    brokerbench::run(brokerbench::Opts::parse()).await
}
