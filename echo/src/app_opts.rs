//! How the `server` and `client` roles attach to a running ct-stackd: the
//! app's name (one of its own by default, so several copies share a
//! daemon), its namespace and the namespace's secret, read from a file so
//! it stays off the command line.

use std::io;
use std::path::PathBuf;

use ct_app_client::AttachConfig;
use ct_stackd::read_secret_file;
use ct_sync::unmodeled::atomic::{AtomicU32, Ordering};

/// Default names handed out in this process (process-private
/// bookkeeping: unmodeled).
static NAMES: AtomicU32 = AtomicU32::new(0);

/// The attach options of `ct-echo server` and `ct-echo client`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AppOptions {
    /// The app's name (default: ct-echo-ROLE-PID-N, unique among running
    /// apps).
    #[arg(long)]
    pub name: Option<String>,
    /// The app namespace to attach in (give its socket with --socket).
    #[arg(long, value_name = "ID")]
    pub namespace: Option<String>,
    /// The file holding the namespace's secret (a decimal number).
    #[arg(long, value_name = "FILE", requires = "namespace")]
    pub secret_file: Option<PathBuf>,
}

impl AppOptions {
    /// The attach configuration for role `role` ("server", "client").
    pub fn attach_config(&self, role: &str) -> io::Result<AttachConfig> {
        let name = match &self.name {
            Some(n) => n.clone(),
            None => {
                let n = NAMES.fetch_add(1, Ordering::Relaxed);
                format!("ct-echo-{role}-{}-{n}", std::process::id())
            }
        };
        let mut cfg = AttachConfig::new(name);
        if let Some(ns) = &self.namespace {
            let secret = match &self.secret_file {
                Some(f) => read_secret_file(f)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
                None => 0,
            };
            cfg = cfg.with_namespace(ns.clone(), secret);
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_differ_and_secrets_come_from_the_file() {
        let o = AppOptions::default();
        let (a, b) = (
            o.attach_config("server").unwrap(),
            o.attach_config("server").unwrap(),
        );
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("ct-echo-server-"), "{}", a.name);
        let f = std::env::temp_dir().join(format!("ct-echo-secret-{}", std::process::id()));
        std::fs::write(&f, "77\n").unwrap();
        let o = AppOptions {
            name: Some("x".into()),
            namespace: Some("blue".into()),
            secret_file: Some(f.clone()),
        };
        let c = o.attach_config("client").unwrap();
        assert_eq!(
            (c.name.as_str(), c.namespace_id.as_str(), c.namespace_secret),
            ("x", "blue", 77)
        );
        std::fs::write(&f, "nope").unwrap();
        assert!(o.attach_config("client").is_err());
        std::fs::remove_file(&f).unwrap();
    }
}
