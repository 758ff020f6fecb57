//! Every published crate is a complete package: other stack components
//! consume each crate on its own, so each carries a description, license,
//! repository and README, and pins its sibling crates exactly. (Crate docs
//! are the `missing_docs` lint's job: warn in [workspace.lints], and clippy
//! runs with `-D warnings`, bin roots included.)

use crate::workspace::{PackageExt, Workspace};

/// Missing package metadata, one message each.
pub fn check(ws: &Workspace) -> Vec<String> {
    let mut errors = Vec::new();
    for p in ws.packages.iter().filter(|p| p.publishable()) {
        let missing = |field: &str, v: &Option<String>| {
            v.as_deref()
                .is_none_or(|s| s.trim().is_empty())
                .then(|| format!("{}: Cargo.toml has no `{field}`", p.name))
        };
        errors.extend(missing("description", &p.description));
        errors.extend(missing("license", &p.license));
        errors.extend(missing("repository", &p.repository));
        match &p.readme {
            None => errors.push(format!("{}: Cargo.toml has no `readme`", p.name)),
            Some(r) if !p.dir().join(r).is_file() => {
                errors.push(format!("{}: readme `{r}` does not exist", p.name));
            }
            Some(_) => {}
        }
        // Sibling crates are released in lockstep and pinned exactly: a
        // caret requirement lets the resolver pick an unrelated crate of
        // the same name from crates.io (`session` 0.1.8 exists there).
        for d in &p.dependencies {
            if let Some(sibling) = ws.package(&d.name) {
                let want = format!("={}", sibling.version);
                if d.req.to_string() != want {
                    errors.push(format!(
                        "{}: dependency `{}` is `{}`, want `{want}` (pin in [workspace.dependencies])",
                        p.name, d.name, d.req
                    ));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tests::SAMPLE;

    #[test]
    fn reports_missing_fields_and_loose_sibling_pins() {
        // Make xtask publishable: it has no metadata and a sibling dep.
        let text = SAMPLE
            .replace(r#""publish": [],"#, r#""publish": null,"#)
            .replace(r#""req": "=0.1.0""#, r#""req": "^0.1.0""#);
        let ws = Workspace::from_metadata(&text).unwrap();
        let errors = check(&ws);
        let xtask: Vec<_> = errors.iter().filter(|e| e.starts_with("xtask:")).collect();
        for needle in [
            "`description`",
            "`license`",
            "`repository`",
            "`readme`",
            "want `=0.1.0`",
        ] {
            assert!(
                xtask.iter().any(|e| e.contains(needle)),
                "{needle}: {errors:?}"
            );
        }
        // fifo-segment's files are not on disk in the sample: its readme is flagged.
        assert!(
            errors
                .iter()
                .any(|e| e == "ct-fifo-segment: readme `README.md` does not exist")
        );
    }

    #[test]
    fn unpublished_crates_are_exempt() {
        let ws = Workspace::from_metadata(SAMPLE).unwrap();
        assert!(check(&ws).iter().all(|e| !e.starts_with("xtask:")));
    }

    #[test]
    fn loads_this_workspace() {
        let ws = Workspace::load().unwrap();
        let me = ws.package("xtask").expect("xtask is a member");
        assert!(!me.publishable());
        assert!(
            ws.packages
                .iter()
                .any(|p| p.name == "ct-fifo-segment" && p.publishable())
        );
    }
}
