//! The project's shape, checked without the stack: every place outside Rust that must name each
//! middleware names it (a new middleware's missing pieces fail here, by file), the results format
//! depends on nothing async and nothing of the rest of `bench`, and no module of the workspace
//! imports one that imports it back (a parent using its own submodules aside: scripts/module-cycles).

use std::path::{Path, PathBuf};
use std::process::Command;

use brokerbench_common::middleware::Middleware;

fn project_file(relative: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (path, text)
}

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
        ("README.md", format!("cases_{name}")),
    ];
    if let Some(service) = m.descriptor().stack_service {
        wanted.push(("compose/all.yml", format!("\n  {service}:")));
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
            if !project_file(&file).1.contains(&text) {
                missing.push(format!("{file} lacks {text:?} ({m})"));
            }
        }
        let own_compose = format!("compose/{}.yml", m.name());
        if !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(&own_compose)
            .exists()
        {
            missing.push(format!("{own_compose} is missing ({m})"));
        }
    }
    let (_, stack) = project_file("scripts/stack");
    let sourced = stack
        .lines()
        .find(|l| l.starts_with("for svc_file in "))
        .unwrap_or_default();
    for m in Middleware::ALL {
        if let Some(service) = m.descriptor().stack_service
            && !sourced.split_whitespace().any(|w| w == service)
        {
            missing.push(format!(
                "scripts/stack does not source stack.d/{service}.sh ({m})"
            ));
        }
    }
    let every = format!("BB_MIDDLEWARES: {}", Middleware::names(","));
    if !project_file("compose/all.yml").1.contains(&every) {
        missing.push(format!("compose/all.yml lacks {every:?}"));
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
