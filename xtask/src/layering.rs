//! The `layering` checks: no crate depends upward or sideways (this file),
//! plus what `check_all` gathers from the other checks the compiler cannot
//! make: lint inheritance (`lints`), the sync shim (`sync_shim`) and bench
//! registration (`bench`).

use cargo_metadata::DependencyKind;

use crate::workspace::Workspace;
use crate::{bench, lints, sync_shim};

/// The runtime crates bottom-up: a crate may depend only on crates listed
/// before it. A new crate gets its place here (and in ARCHITECTURE.md).
pub const LAYERS: &[&str] = &[
    "ct-sync",
    "ct-fifo-segment",
    "ct-app-interface",
    "ct-segment-manager",
    "ct-session",
    "ct-app-worker",
    "ct-transport-ct",
    "ct-stackd",
    "ct-app-client",
    "ct-echo",
    "test-harness",
];

/// Crates that sit beside the stack rather than on top of it: each may use
/// only the members listed with it (still downward in [`LAYERS`]). A program
/// that talks to stackd links app-client, never the session layer. Dev
/// dependencies are not linked into such a program, so examples and tests
/// may run a real daemon (still downward in [`LAYERS`]).
pub const ONLY_USES: &[(&str, &[&str])] = &[
    ("ct-app-interface", &["ct-sync", "ct-fifo-segment"]),
    (
        "ct-app-client",
        &["ct-sync", "ct-fifo-segment", "ct-app-interface"],
    ),
];

/// Tooling crates: they use no runtime crate and no crate uses them.
pub const TOOLING: &[&str] = &["xtask"];

/// Every `layering` problem, one message each.
pub fn check_all(ws: &Workspace) -> Vec<String> {
    let mut errors = check_graph(ws);
    errors.extend(lints::check(ws));
    errors.extend(sync_shim::check(ws));
    errors.extend(bench::check_registration(ws));
    errors
}

/// Dependency-direction violations, one message each.
pub fn check_graph(ws: &Workspace) -> Vec<String> {
    let rank = |name: &str| LAYERS.iter().position(|l| *l == name);
    let mut errors = Vec::new();
    for p in &ws.packages {
        let tooling = TOOLING.contains(&p.name.as_str());
        let Some(mine) = rank(&p.name).or(if tooling { Some(usize::MAX) } else { None }) else {
            errors.push(format!(
                "crate `{}` has no place in the layering: add it to LAYERS or TOOLING in \
                 xtask/src/layering.rs (and to the graph in ARCHITECTURE.md)",
                p.name
            ));
            continue;
        };
        // Path dependencies on members only: a crates.io crate that shares a
        // member's name is not that member.
        for d in p
            .dependencies
            .iter()
            .filter(|d| d.path.is_some() && ws.is_member(&d.name))
        {
            if TOOLING.contains(&d.name.as_str()) {
                errors.push(format!(
                    "`{}` depends on tooling crate `{}`",
                    p.name, d.name
                ));
            } else if tooling {
                errors.push(format!(
                    "tooling crate `{}` depends on runtime crate `{}`: tooling stays outside the stack",
                    p.name, d.name
                ));
            } else if let Some((_, allowed)) = ONLY_USES.iter().find(|(c, _)| p.name == *c)
                && d.kind != DependencyKind::Development
                && !allowed.contains(&d.name.as_str())
            {
                errors.push(format!(
                    "`{}` depends on `{}` ({}): it may use only {}",
                    p.name,
                    d.name,
                    d.kind,
                    allowed.join(", ")
                ));
            } else if let Some(theirs) = rank(&d.name)
                && theirs >= mine
            {
                errors.push(format!(
                    "`{}` depends on `{}` ({}): that points upward or sideways in {}",
                    p.name,
                    d.name,
                    d.kind,
                    LAYERS
                        .iter()
                        .rev()
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tests::SAMPLE;

    fn ws_with(edits: &[(&str, &str)]) -> Workspace {
        let mut text = SAMPLE.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "{from}");
            text = text.replacen(from, to, 1);
        }
        Workspace::from_metadata(&text).unwrap()
    }

    #[test]
    fn flags_tooling_depending_on_runtime() {
        let errors = check_graph(&ws_with(&[]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("tooling crate `xtask` depends on runtime crate"));
    }

    #[test]
    fn flags_upward_dependency_of_any_kind() {
        // fifo-segment (bottom) gains a dev-dependency on transport-ct (a member here).
        let ws = ws_with(&[
            (
                r#""name": "xtask", "version""#,
                r#""name": "ct-transport-ct", "version""#,
            ),
            (
                r#"{"name": "ct-fifo-segment", "req": "=0.1.0""#,
                r#"{"name": "ct-session", "req": "=0.1.0""#,
            ),
            (
                r#""name": "proptest", "req": "^1.6", "kind": "dev""#,
                r#""name": "ct-transport-ct", "req": "=0.1.0", "path": "/ws/transport-ct", "kind": "dev""#,
            ),
        ]);
        let errors = check_graph(&ws);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("`ct-fifo-segment` depends on `ct-transport-ct` (dev)"),
            "{errors:?}"
        );
    }

    #[test]
    fn downward_dependencies_pass() {
        let ws = ws_with(&[
            (
                r#""name": "xtask", "version""#,
                r#""name": "ct-transport-ct", "version""#,
            ),
            (r#""publish": [],"#, r#""publish": null,"#),
        ]);
        assert!(check_graph(&ws).is_empty());
    }

    #[test]
    fn side_crate_may_not_use_the_stack() {
        // app-client (beside the stack) depends on stackd, which is below
        // it in LAYERS but part of the stack.
        let ws = ws_with(&[
            (
                r#""name": "ct-fifo-segment", "version""#,
                r#""name": "ct-stackd", "version""#,
            ),
            (
                r#""name": "xtask", "version""#,
                r#""name": "ct-app-client", "version""#,
            ),
            (
                r#"{"name": "ct-fifo-segment", "req": "=0.1.0""#,
                r#"{"name": "ct-stackd", "req": "=0.1.0""#,
            ),
            (r#""publish": [],"#, r#""publish": null,"#),
        ]);
        let errors = check_graph(&ws);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("`ct-app-client` depends on `ct-stackd`")
                && errors[0].contains("may use only"),
            "{errors:?}"
        );
    }

    #[test]
    fn side_crate_may_run_the_stack_in_dev_targets() {
        // The same dependency as above, as a dev-dependency: examples and
        // tests may run a daemon; the library still links none of it.
        let ws = ws_with(&[
            (
                r#""name": "ct-fifo-segment", "version""#,
                r#""name": "ct-stackd", "version""#,
            ),
            (
                r#""name": "xtask", "version""#,
                r#""name": "ct-app-client", "version""#,
            ),
            (
                r#"{"name": "ct-fifo-segment", "req": "=0.1.0", "kind": null"#,
                r#"{"name": "ct-stackd", "req": "=0.1.0", "kind": "dev""#,
            ),
            (r#""publish": [],"#, r#""publish": null,"#),
        ]);
        assert!(check_graph(&ws).is_empty(), "{:?}", check_graph(&ws));
    }

    #[test]
    fn unknown_crate_must_be_placed() {
        let ws = ws_with(&[(
            r#""name": "xtask", "version""#,
            r#""name": "ct-mystery", "version""#,
        )]);
        let errors = check_graph(&ws);
        assert!(
            errors[0].contains("crate `ct-mystery` has no place"),
            "{errors:?}"
        );
    }
}
