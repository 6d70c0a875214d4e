//! The project's shape, checked without the stack: every place outside Rust that must name each
//! middleware names it (a new middleware's missing pieces fail here, by file), the results format
//! depends on nothing async and nothing of the rest of `bench`, and no module of the workspace
//! imports one that imports it back (a parent using its own submodules aside: scripts/module-cycles).

use std::path::{Path, PathBuf};
use std::process::Command;

use brokerbench_common::middleware::Middleware;

fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The text of a project file; empty when it is missing, which every check then reports.
fn project_file(relative: &str) -> String {
    std::fs::read_to_string(project_path(relative)).unwrap_or_default()
}

const HELM_SCHEMA: &str = "deploy/helm/brokerbench/values.schema.json";
const HELM_VALUES: &str = "deploy/helm/brokerbench/values.yaml";
const HELM_HELPERS: &str = "deploy/helm/brokerbench/templates/_helpers.tpl";

/// What each file must contain for middleware `m`: (file, the text it must contain).
fn expected_mentions(m: Middleware) -> Vec<(String, String)> {
    let name = m.name();
    let mut wanted = vec![
        ("compose/all.yml", format!("subscriber-{name}:")),
        ("compose/validate.py", format!("\"{name}\":")),
        (
            "compose/prometheus/prometheus.yml",
            format!("subscriber-{name}"),
        ),
        ("compose/README.md", format!("{name}.yml")),
        ("compose/targets/all.toml", format!("\n{name} = ")),
        ("README.md", format!("cases_{name}")),
        ("results/README.md", format!("`{name}`")),
        (HELM_SCHEMA, format!("\"{name}\": {{")),
        (HELM_VALUES, format!("{name}: 1")),
        ("deploy/check_rendered.py", format!("\"{name}\"")),
    ];
    if let Some(service) = m.descriptor().stack_service {
        wanted.push(("compose/all.yml", format!("\n  {service}:")));
        // How each side reaches the broker, in the chart's pods.
        wanted.push((HELM_HELPERS, format!("eq .mw \"{name}\"")));
    }
    let mut wanted: Vec<(String, String)> = wanted
        .into_iter()
        .map(|(file, text)| (file.to_string(), text))
        .collect();
    if let Some(service) = m.descriptor().stack_service {
        let file = format!("scripts/stack.d/{service}.sh");
        wanted.push((file, format!("\nservice {service} ")));
    }
    wanted
}

#[test]
fn every_file_outside_rust_names_every_middleware() {
    let mut missing = Vec::new();
    for m in Middleware::ALL {
        for (file, text) in expected_mentions(m) {
            if !project_path(&file).exists() {
                missing.push(format!("{file} is missing ({m})"));
            } else if !project_file(&file).contains(&text) {
                missing.push(format!("{file} lacks {text:?} ({m})"));
            }
        }
        let name = m.name();
        for own in [
            format!("compose/{name}.yml"),
            format!("compose/targets/{name}.toml"),
            format!("deploy/helm/brokerbench/examples/{name}.yaml"),
        ] {
            if !project_path(&own).exists() {
                missing.push(format!("{own} is missing ({m})"));
            }
        }
    }
    let stack = project_file("scripts/stack");
    let sourced = stack
        .lines()
        .find(|l| l.starts_with("for svc_file in "))
        .unwrap_or_default();
    for m in Middleware::ALL {
        if let Some(service) = m.descriptor().stack_service
            && !sourced
                .split_whitespace()
                .any(|w| w.trim_end_matches(';') == service)
        {
            missing.push(format!(
                "scripts/stack does not source stack.d/{service}.sh ({m})"
            ));
        }
    }
    let every = Middleware::names(",");
    for (file, text) in [
        ("compose/all.yml", format!("BB_MIDDLEWARES: {every}")),
        ("deploy/check.sh", format!("\nALL={every}\n")),
    ] {
        if !project_file(file).contains(&text) {
            missing.push(format!("{file} lacks {text:?}"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_results_format_depends_on_nothing_async_and_nothing_else_of_bench() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/results");
    let forbidden = ["tokio", "mongodb", "reqwest", "futures", "axum", "hyper"];
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src/results") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("results source");
        for (n, line) in text.lines().enumerate() {
            let names_async = forbidden.iter().any(|f| line.contains(&format!("{f}::")));
            let reaches_out = line.contains("crate::") && !line.contains("crate::results");
            if names_async || reaches_out {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("python3")
        .current_dir(&root)
        .args(["scripts/module-cycles", "bench/src", "common/src"])
        .args(["publishers/src", "subscribers/src"])
        .output()
        .expect("python3 runs scripts/module-cycles");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
