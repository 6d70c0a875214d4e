//! Reading and writing a run's folder: its name, `summary.json` and any other JSON file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::summary::{SCHEMA_VERSION, Summary};

/// `results/<UTC timestamp>-<label>/`, created.
pub fn run_dir(results: &Path, label: &str) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let dir = results.join(format!("{stamp}-{safe}"));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

pub fn read_summary(dir: &Path) -> anyhow::Result<Summary> {
    let path = dir.join("summary.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a brokerbench summary", path.display()))?;
    anyhow::ensure!(
        summary.schema_version == SCHEMA_VERSION,
        "{} has schema version {}; this brokerbench reads {}",
        path.display(),
        summary.schema_version,
        SCHEMA_VERSION
    );
    Ok(summary)
}
