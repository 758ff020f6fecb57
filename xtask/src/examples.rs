//! The `examples` CI step: every publishable crate ships at least one
//! example (`examples/*.rs`), and every example runs to success. Components
//! that consume ct-stack crate by crate start from those examples, so one
//! that is missing or broken is a failed check, not a docs nit.

use cargo_metadata::{Package, TargetKind};

use crate::cmd;
use crate::workspace::{PackageExt, Workspace};

/// One example to run: crate, example name, its required features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Package name.
    pub krate: String,
    /// Example target name.
    pub name: String,
    /// `required-features` of the target, passed with `--features`.
    pub features: Vec<String>,
}

/// The examples of the publishable members, and the publishable members
/// that have none.
pub fn plan(packages: &[Package]) -> (Vec<Example>, Vec<String>) {
    let mut examples = Vec::new();
    let mut lacking = Vec::new();
    for p in packages.iter().filter(|p| p.publishable()) {
        let before = examples.len();
        examples.extend(p.targets_of(TargetKind::Example).map(|t| Example {
            krate: p.name.to_string(),
            name: t.name.clone(),
            features: t.required_features.clone(),
        }));
        if examples.len() == before {
            lacking.push(p.name.to_string());
        }
    }
    (examples, lacking)
}

/// Runs every example (all of them, also after a failure), then fails if a
/// publishable crate has none or an example failed.
pub fn run(ws: &Workspace) -> Result<(), String> {
    let (examples, lacking) = plan(&ws.packages);
    let mut failed = Vec::new();
    for e in &examples {
        println!("--- {} --example {}", e.krate, e.name);
        let mut c = cmd::cargo(&ws.root);
        c.args(["run", "--quiet", "-p", &e.krate, "--example", &e.name]);
        if !e.features.is_empty() {
            c.args(["--features", &e.features.join(",")]);
        }
        if let Err(err) = cmd::run(&mut c) {
            failed.push(err);
        }
    }
    println!("ran {} example(s), {} failed", examples.len(), failed.len());
    verdict(&lacking, &failed)
}

/// The step's result from the crates without examples and the failed runs.
fn verdict(lacking: &[String], failed: &[String]) -> Result<(), String> {
    let mut errors: Vec<String> = lacking
        .iter()
        .map(|k| {
            format!(
                "crate `{k}` has no example: add examples/<name>.rs showing how to use it \
                 (every publishable crate needs one)"
            )
        })
        .collect();
    errors.extend(failed.iter().cloned());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tests::SAMPLE;

    fn packages(text: &str) -> Vec<Package> {
        Workspace::from_metadata(text).unwrap().packages
    }

    #[test]
    fn plans_examples_of_publishable_crates_only() {
        // xtask is publish = false and has no example: not asked for one.
        let (examples, lacking) = plan(&packages(SAMPLE));
        assert_eq!(
            examples,
            [Example {
                krate: "ct-fifo-segment".into(),
                name: "stream".into(),
                features: vec![],
            }]
        );
        assert!(lacking.is_empty(), "{lacking:?}");
    }

    #[test]
    fn a_publishable_crate_without_examples_is_named() {
        let text = SAMPLE.replacen(r#""publish": [],"#, r#""publish": null,"#, 1);
        let (_, lacking) = plan(&packages(&text));
        assert_eq!(lacking, ["xtask"]);
        let err = verdict(&lacking, &[]).unwrap_err();
        assert!(err.starts_with("crate `xtask` has no example"), "{err}");
    }

    #[test]
    fn required_features_are_carried() {
        let text = SAMPLE.replacen(
            r#""kind": ["example"],"#,
            r#""kind": ["example"], "required-features": ["demo"],"#,
            1,
        );
        let (examples, _) = plan(&packages(&text));
        assert_eq!(examples[0].features, ["demo"]);
    }

    #[test]
    fn a_failed_run_fails_the_step() {
        assert!(verdict(&[], &[]).is_ok());
        let err = verdict(&[], &["`cargo run` failed (exit status: 1)".into()]).unwrap_err();
        assert!(err.contains("failed"), "{err}");
    }
}
