//! House-rule checks on the workspace graph and sources: no crate depends
//! upward, `unsafe` lives only in fifo-segment, every other crate forbids it.

use std::path::Path;

use crate::rust_scan;
use crate::workspace::{Package, Workspace, rust_files};

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
/// that talks to stackd links app-client, never the session layer.
pub const ONLY_USES: &[(&str, &[&str])] = &[
    ("ct-app-interface", &["ct-sync", "ct-fifo-segment"]),
    (
        "ct-app-client",
        &["ct-sync", "ct-fifo-segment", "ct-app-interface"],
    ),
];

/// Tooling crates: they use no runtime crate and no crate uses them.
pub const TOOLING: &[&str] = &["xtask"];

/// The one crate that may contain `unsafe`.
pub const UNSAFE_CRATE: &str = "ct-fifo-segment";

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
            .deps
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
            } else if let Some((_, allowed)) = ONLY_USES.iter().find(|(c, _)| *c == p.name)
                && !allowed.contains(&d.name.as_str())
            {
                errors.push(format!(
                    "`{}` depends on `{}` ({:?}): it may use only {}",
                    p.name,
                    d.name,
                    d.kind,
                    allowed.join(", ")
                ));
            } else if let Some(theirs) = rank(&d.name)
                && theirs >= mine
            {
                errors.push(format!(
                    "`{}` depends on `{}` ({:?}): that points upward or sideways in {}",
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

/// `unsafe` outside fifo-segment, and crate roots without
/// `#![forbid(unsafe_code)]`, one message each.
pub fn check_unsafe(ws: &Workspace) -> Vec<String> {
    let mut errors = Vec::new();
    for p in ws.packages.iter().filter(|p| p.name != UNSAFE_CRATE) {
        errors.extend(unsafe_in_package(p, &ws.root));
    }
    errors
}

fn unsafe_in_package(p: &Package, root: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let shown = |f: &Path| f.strip_prefix(root).unwrap_or(f).display().to_string();
    for file in rust_files(&p.dir) {
        let Ok(src) = std::fs::read_to_string(&file) else {
            errors.push(format!("{}: cannot read", shown(&file)));
            continue;
        };
        for line in rust_scan::lines_with_ident(&src, "unsafe") {
            errors.push(format!(
                "{}:{line}: `unsafe` outside {UNSAFE_CRATE} (crate `{}`)",
                shown(&file),
                p.name
            ));
        }
    }
    for crate_root in p.crate_roots() {
        let src = std::fs::read_to_string(crate_root).unwrap_or_default();
        if !rust_scan::forbids_unsafe(&src) {
            errors.push(format!(
                "{}: lacks #![forbid(unsafe_code)]",
                shown(crate_root)
            ));
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
            errors[0].contains("`ct-fifo-segment` depends on `ct-transport-ct` (Dev)"),
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

    #[test]
    fn finds_unsafe_and_missing_forbid_in_a_crate_dir() {
        let dir = std::env::temp_dir().join(format!("xtask-unsafe-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("lib.rs"), "//! docs\nmod a;\n").unwrap();
        std::fs::write(
            src.join("a.rs"),
            "// unsafe in a comment\nfn f() { unsafe {} }\n",
        )
        .unwrap();
        let text = SAMPLE
            .replace(
                "/ws/fifo-segment/src/lib.rs",
                &src.join("lib.rs").display().to_string(),
            )
            .replace(
                "\"/ws/fifo-segment/Cargo.toml\"",
                &format!("{:?}", dir.join("Cargo.toml")),
            )
            .replacen(
                "\"name\": \"ct-fifo-segment\", \"version\"",
                "\"name\": \"ct-session\", \"version\"",
                1,
            );
        let ws = Workspace::from_metadata(&text).unwrap();
        let p = ws.package("ct-session").unwrap();
        let errors = unsafe_in_package(p, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("src/a.rs:2: `unsafe` outside ct-fifo-segment"),
            "{errors:?}"
        );
        assert!(
            errors[1].ends_with("lacks #![forbid(unsafe_code)]"),
            "{errors:?}"
        );
    }
}
