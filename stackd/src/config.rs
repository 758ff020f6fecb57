//! What a daemon is started with: workers, the app namespaces and their
//! sockets, segment and fifo sizes, how workers wait, how much a hostile app
//! may get wrong before it is detached.

use std::path::PathBuf;
use std::str::FromStr;

use std::time::Duration;

use ct_app_interface::wire::SAPI_MAX_THREADS;
use ct_app_worker::DEFAULT_NAMESPACE;

/// One app namespace and the socket its apps attach on (VPP: `app ns add
/// id ID secret SECRET` plus the namespace's app socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceCfg {
    /// Namespace id (the default namespace is [`DEFAULT_NAMESPACE`]).
    pub id: String,
    /// The secret apps present (ignored for the default namespace, as in
    /// VPP).
    pub secret: u64,
    /// Path of the namespace's `SOCK_SEQPACKET` socket.
    pub socket: PathBuf,
}

impl NamespaceCfg {
    /// Namespace `id` with `secret` on `socket`.
    pub fn new(id: impl Into<String>, secret: u64, socket: impl Into<PathBuf>) -> Self {
        NamespaceCfg {
            id: id.into(),
            secret,
            socket: socket.into(),
        }
    }

    /// Whether this is the default namespace.
    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_NAMESPACE
    }
}

impl FromStr for NamespaceCfg {
    type Err = String;

    /// `id:secret:path` (the path may itself contain `:`).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut it = s.splitn(3, ':');
        let (Some(id), Some(secret), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("namespace {s:?}: expected id:secret:path"));
        };
        if id.is_empty() || path.is_empty() {
            return Err(format!("namespace {s:?}: empty id or path"));
        }
        let secret = secret
            .parse::<u64>()
            .map_err(|e| format!("namespace {s:?}: secret: {e}"))?;
        Ok(NamespaceCfg::new(id, secret, path))
    }
}

/// A `--namespace` option as given: `ID:PATH`, whose secret comes from a
/// file or the environment ([`secret_env_var`], [`read_secret_file`]), or
/// the older `ID:SECRET:PATH`, which puts the secret where every user can
/// read it (`/proc/PID/cmdline`) and is kept only for old command lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceArg {
    /// Namespace id.
    pub id: String,
    /// The secret, when the option carried it (the older form).
    pub secret: Option<u64>,
    /// Path of the namespace's socket.
    pub socket: PathBuf,
}

impl FromStr for NamespaceArg {
    type Err = String;

    /// `ID:PATH`, or `ID:SECRET:PATH` when the second field is all digits
    /// and a third follows (a path may contain `:`).
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((id, rest)) = s.split_once(':') else {
            return Err(format!("namespace {s:?}: expected ID:PATH"));
        };
        let (secret, path) = match rest.split_once(':') {
            Some((n, path)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let n = n
                    .parse::<u64>()
                    .map_err(|e| format!("namespace {s:?}: secret: {e}"))?;
                (Some(n), path)
            }
            _ => (None, rest),
        };
        if id.is_empty() || path.is_empty() {
            return Err(format!("namespace {s:?}: empty id or path"));
        }
        Ok(NamespaceArg {
            id: id.to_owned(),
            secret,
            socket: PathBuf::from(path),
        })
    }
}

/// The environment variable a namespace's secret may come from:
/// `CT_STACKD_SECRET_` and the id in upper case, every character other
/// than a letter or digit as `_` (`blue-1` reads `CT_STACKD_SECRET_BLUE_1`).
pub fn secret_env_var(id: &str) -> String {
    let mut v = String::from("CT_STACKD_SECRET_");
    v.extend(id.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    v
}

/// Parses a namespace secret: a decimal `u64`, surrounding whitespace
/// ignored.
pub fn parse_secret(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|e| format!("secret: {e} (expected a decimal number)"))
}

/// Reads a namespace secret from the file at `path` (a decimal number; a
/// trailing newline is fine).
pub fn read_secret_file(path: &std::path::Path) -> Result<u64, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_secret(&s).map_err(|e| format!("{}: {e}", path.display()))
}

/// Who may attach, beyond what the socket file's mode lets connect: with
/// neither list set, anyone who can open the socket; otherwise only a uid
/// in [`AccessRules::allow_uids`] or a peer whose primary gid (what
/// `SO_PEERCRED` tells; supplementary groups are not seen) is in
/// [`AccessRules::allow_gids`]. Root gets no exception: list uid 0 to let
/// it attach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Group the socket files get (their mode is 0660): its members may
    /// connect.
    pub socket_group: Option<u32>,
    /// Uids allowed to attach.
    pub allow_uids: Vec<u32>,
    /// Primary gids allowed to attach.
    pub allow_gids: Vec<u32>,
}

impl AccessRules {
    /// Whether a peer with `uid` and `gid` may attach.
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        (self.allow_uids.is_empty() && self.allow_gids.is_empty())
            || self.allow_uids.contains(&uid)
            || self.allow_gids.contains(&gid)
    }
}

/// Mode of the app sockets: owner and group may connect, others not.
pub const SOCKET_MODE: u32 = 0o660;

/// Default socket of the default namespace.
pub const DEFAULT_SOCKET: &str = "/run/ct-stack/stackd.sock";

/// Default size of an app's first segment and of ct's segments.
pub const DEFAULT_SEGMENT_SIZE: usize = 32 << 20;

/// Default fifo size when an app asks for 0.
pub const DEFAULT_FIFO_SIZE: u32 = 64 << 10;

/// Bad messages an app may send before it is detached.
pub const DEFAULT_MAX_STRIKES: u32 = 16;

/// Default linger of an emptied ct segment (see
/// [`StackdConfig::ct_segment_linger`]).
pub const DEFAULT_CT_SEGMENT_LINGER: Duration = Duration::from_millis(2);

/// Default [`StackdConfig::park_timeout`]: an idle daemon wakes each
/// worker this often. The session layer's 10 ms cost an idle daemon about
/// 0.2 ms of CPU per second per thread (issue 15: an idle app and daemon
/// together under 1% of a core); nothing waits on the timeout but a
/// lingering segment's removal.
pub const DEFAULT_PARK_TIMEOUT: Duration = Duration::from_millis(100);

/// A daemon's configuration.
#[derive(Debug, Clone)]
pub struct StackdConfig {
    /// Worker threads besides main.
    pub workers: u32,
    /// Namespaces and their sockets; the default namespace is among them
    /// (see [`StackdConfig::new`]).
    pub namespaces: Vec<NamespaceCfg>,
    /// Size of app segments and ct segments (bytes).
    pub segment_size: usize,
    /// Fifo size for apps that ask for 0.
    pub fifo_size: u32,
    /// Workers poll instead of sleeping on their eventfd when idle.
    pub poll: bool,
    /// Bad queue messages or socket records before an app is detached.
    pub max_strikes: u32,
    /// Longest sleep of an idle worker: work wakes it through its eventfd
    /// before that, so this only bounds the cost of a lost wake-up (and
    /// how late a lingering ct segment goes). [`DEFAULT_PARK_TIMEOUT`].
    pub park_timeout: Duration,
    /// How long a ct segment whose last session went waits for the next
    /// connect between the same two app workers before it is removed
    /// (`ct_transport_ct::CtConfig::segment_linger`; zero removes it at once,
    /// as VPP does). Between processes a new segment costs a memfd, its fd
    /// over both apps' sockets, three maps and page faults on fresh memory,
    /// so connects that come and go in bursts would otherwise make and
    /// unmap a segment per burst.
    pub ct_segment_linger: Duration,
    /// The sockets' group and who may attach.
    pub access: AccessRules,
}

impl StackdConfig {
    /// One worker, the default namespace on `socket`, default sizes,
    /// workers sleeping when idle.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        StackdConfig {
            workers: 1,
            namespaces: vec![NamespaceCfg::new(DEFAULT_NAMESPACE, 0, socket)],
            segment_size: DEFAULT_SEGMENT_SIZE,
            fifo_size: DEFAULT_FIFO_SIZE,
            poll: false,
            max_strikes: DEFAULT_MAX_STRIKES,
            park_timeout: DEFAULT_PARK_TIMEOUT,
            ct_segment_linger: DEFAULT_CT_SEGMENT_LINGER,
            access: AccessRules::default(),
        }
    }

    /// Same, with `n` workers.
    #[must_use]
    pub fn with_workers(mut self, n: u32) -> Self {
        self.workers = n;
        self
    }

    /// Same, plus namespace `ns`.
    #[must_use]
    pub fn with_namespace(mut self, ns: NamespaceCfg) -> Self {
        self.namespaces.push(ns);
        self
    }

    /// Checks what can be checked before starting: at least one namespace,
    /// unique ids and socket paths, sizes that make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.namespaces.is_empty() {
            return Err("no namespace to serve".into());
        }
        for (i, a) in self.namespaces.iter().enumerate() {
            for b in &self.namespaces[i + 1..] {
                if a.id == b.id {
                    return Err(format!("namespace {:?} given twice", a.id));
                }
                if a.socket == b.socket {
                    return Err(format!("socket {:?} given twice", a.socket));
                }
            }
        }
        if self.max_strikes == 0 {
            // Zero would detach every app at its first record.
            return Err("max strikes must be at least 1".into());
        }
        if self.segment_size < (1 << 20) {
            return Err("segment size below 1 MiB".into());
        }
        if self.fifo_size < 4096 || (self.fifo_size as usize) * 2 > self.segment_size {
            return Err("fifo size below 4 KiB or two fifos do not fit a segment".into());
        }
        // An attach reply carries one queue pair and one eventfd per thread.
        if self.workers as usize + 1 > SAPI_MAX_THREADS {
            return Err(format!("more than {} workers", SAPI_MAX_THREADS - 1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_parses_id_secret_path() {
        let ns: NamespaceCfg = "blue:42:/tmp/a:b.sock".parse().unwrap();
        assert_eq!(ns, NamespaceCfg::new("blue", 42, "/tmp/a:b.sock"));
        assert!("blue:x:/p".parse::<NamespaceCfg>().is_err());
        assert!("blue:1".parse::<NamespaceCfg>().is_err());
        assert!(":1:/p".parse::<NamespaceCfg>().is_err());
        assert!("b:1:".parse::<NamespaceCfg>().is_err());
    }

    #[test]
    fn validate_refuses_duplicates_and_bad_sizes() {
        let ok = StackdConfig::new("/tmp/x.sock");
        assert!(ok.validate().is_ok());
        let dup = ok
            .clone()
            .with_namespace(NamespaceCfg::new("blue", 1, "/tmp/x.sock"));
        assert!(dup.validate().is_err());
        let dup_id =
            ok.clone()
                .with_namespace(NamespaceCfg::new(DEFAULT_NAMESPACE, 1, "/tmp/y.sock"));
        assert!(dup_id.validate().is_err());
        let mut small = ok.clone();
        small.fifo_size = 100;
        assert!(small.validate().is_err());
        let many = ok.clone().with_workers(SAPI_MAX_THREADS as u32);
        assert!(many.validate().is_err());
        assert!(
            ok.clone()
                .with_workers(SAPI_MAX_THREADS as u32 - 1)
                .validate()
                .is_ok()
        );
        let mut strikes = ok.clone();
        strikes.max_strikes = 0;
        assert!(strikes.validate().unwrap_err().contains("strikes"));
        strikes.max_strikes = 1;
        assert!(strikes.validate().is_ok());
        let mut none = ok;
        none.namespaces.clear();
        assert!(none.validate().is_err());
    }

    #[test]
    fn namespace_option_forms() {
        let a: NamespaceArg = "blue:/tmp/a:b.sock".parse().unwrap();
        assert_eq!((a.id.as_str(), a.secret), ("blue", None));
        assert_eq!(a.socket, PathBuf::from("/tmp/a:b.sock"));
        let old: NamespaceArg = "blue:42:/tmp/b.sock".parse().unwrap();
        assert_eq!(old.secret, Some(42));
        assert_eq!(old.socket, PathBuf::from("/tmp/b.sock"));
        assert!("blue".parse::<NamespaceArg>().is_err());
        assert!(":/p".parse::<NamespaceArg>().is_err());
        assert!("b:".parse::<NamespaceArg>().is_err());
        assert!("b:1:".parse::<NamespaceArg>().is_err());
        assert!("b:99999999999999999999:/p".parse::<NamespaceArg>().is_err());
    }

    #[test]
    fn secrets_from_env_names_and_files() {
        assert_eq!(secret_env_var("blue-1"), "CT_STACKD_SECRET_BLUE_1");
        assert_eq!(parse_secret(" 42\n"), Ok(42));
        assert!(parse_secret("x").is_err());
        let p = std::env::temp_dir().join(format!("stackd-secret-{}", std::process::id()));
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_secret_file(&p), Ok(1234));
        std::fs::write(&p, "-1").unwrap();
        assert!(read_secret_file(&p).unwrap_err().contains("stackd-secret"));
        std::fs::remove_file(&p).unwrap();
        assert!(read_secret_file(&p).is_err());
    }

    #[test]
    fn access_rules() {
        let open = AccessRules::default();
        assert!(open.allows(1001, 1001));
        let r = AccessRules {
            allow_uids: vec![2000],
            allow_gids: vec![3000],
            ..AccessRules::default()
        };
        assert!(!r.allows(0, 0), "root is not special");
        assert!(r.allows(2000, 1));
        assert!(r.allows(5000, 3000));
        assert!(!r.allows(5000, 5000));
    }
}
