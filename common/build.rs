//! Generates the envelope messages and the gRPC `CaseSink` service from `proto/brokerbench.proto`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../proto/brokerbench.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .type_attribute(
            "brokerbench.v1.Case",
            "#[derive(serde::Serialize, serde::Deserialize)]",
        )
        .compile_protos(&[proto], &["../proto"])?;
    Ok(())
}
