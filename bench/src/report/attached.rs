//! The note of a run attached to a pipeline it did not start (`run --target`): where it was and
//! what the run could not observe of it.

use maud::{Markup, html};

use crate::results::attached::Attached;

pub fn note(a: &Attached) -> Markup {
    html! {
        div.note id="attached" {
            "Attached run: brokerbench started no process; it measured the running pipeline named in "
            code { (a.target) } ": ingress " @for (i, url) in a.ingresses.iter().enumerate() { @if i > 0 { ", " } code { (url) } }
            @for (m, url) in &a.subscribers { ", " (m.name()) " subscriber " code { (url) } }
            ". Its figures count only what the components counted after the run's first reading of them. Not observed:"
            ul { @for line in &a.not_observed { li { (line) } } }
        }
    }
}

/// The same on the terminal, a line each.
pub fn lines(a: &Attached) -> Vec<String> {
    std::iter::once(format!(
        "attached to {} ({}): started nothing",
        a.ingresses.join(", "),
        a.target
    ))
    .chain(
        a.not_observed
            .iter()
            .map(|l| format!("  not observed: {l}")),
    )
    .collect()
}
