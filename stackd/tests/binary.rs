//! The `ct-stackd` program: options, secrets from a file or the
//! environment, log lines, and a clean stop on SIGTERM/SIGINT with an app
//! attached.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rustix::process::{Pid, Signal, kill_process};

fn stackd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ct-stackd"));
    c.env_remove("RUST_LOG").env_remove("CT_STACKD_SECRET_BLUE");
    c
}

#[test]
fn bad_options_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--namespace", "no-secret-or-path"],
        &["--workers", "x"],
        &["--fifo-size", "10"],
        &["--segment-size", "12Q"],
        &["--max-strikes", "0"],
        // No secret from anywhere.
        &["--namespace", "blue:/tmp/ct-stackd-no-secret.sock"],
        &[
            "--secret-file",
            "nobody=/tmp/x",
            "--socket",
            "/tmp/ct-stackd-x.sock",
        ],
        &["--secret-file", "blue"],
        &["--socket-group", "no-such-group-here"],
    ] {
        let out = stackd().args(args).stderr(Stdio::piped()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "ct-stackd did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `cmd` (stderr piped) and waits for `paths` to appear.
fn spawn_serving(cmd: &mut Command, paths: &[&std::path::Path]) -> Child {
    // Not the test's stdout: a daemon a failed test leaves must not keep
    // the harness's pipe open.
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !paths.iter().all(|p| p.exists()) {
        if let Some(s) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("exited {s:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(Instant::now() < deadline, "sockets never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Stops `child` with SIGTERM; its exit status and stderr.
fn terminate(child: Child) -> (std::process::ExitStatus, String) {
    kill_process(Pid::from_child(&child), Signal::TERM).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stops_cleanly_on(sig: Signal) {
    let path = sock_path("bin");
    let blue = sock_path("bin-blue");
    let mut child = spawn_serving(
        stackd()
            .args(["--workers", "2", "--segment-size", "4M", "--socket"])
            .arg(&path)
            .arg("--namespace")
            .arg(format!("blue:{}", blue.display()))
            .env("CT_STACKD_SECRET_BLUE", "7"),
        &[&path, &blue],
    );
    let app = TestApp::attach(&path, "bin-app");
    assert_eq!(app.w.reply.n_threads, 3);
    let mut req = attach_req("blue-app");
    req.namespace_secret = 7;
    let blue_app = TestApp::attach_with(&blue, req).unwrap();
    let pid = Pid::from_child(&child);
    kill_process(pid, sig).unwrap();
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(app.socket_closed(Instant::now() + WAIT));
    assert!(blue_app.socket_closed(Instant::now() + WAIT));
    assert!(!path.exists() && !blue.exists(), "socket files removed");
}

#[test]
fn sigterm_detaches_and_exits_0() {
    stops_cleanly_on(Signal::TERM);
}

#[test]
fn sigint_detaches_and_exits_0() {
    stops_cleanly_on(Signal::INT);
}

#[test]
fn logs_attach_and_detach_with_pid_uid_and_reason() {
    let path = sock_path("bin-log");
    let child = spawn_serving(stackd().arg("--socket").arg(&path), &[&path]);
    let app = TestApp::attach(&path, "log-app");
    let mut req = attach_req("log-app");
    req.namespace_id = "nowhere".into();
    assert!(TestApp::attach_with(&path, req).is_err());
    drop(app);
    // Give the hangup time to be seen before the stop detaches the rest.
    std::thread::sleep(Duration::from_millis(200));
    let (status, err) = terminate(child);
    assert!(status.success(), "{status:?}: {err}");
    let line = |what: &str| {
        err.lines()
            .find(|l| l.contains(what) && l.contains("log-app"))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{err}"))
            .to_owned()
    };
    let pid = format!("pid={}", std::process::id());
    let uid = format!("uid={}", rustix::process::getuid().as_raw());
    let attached = line("app attached");
    assert!(attached.contains(" INFO "), "{attached}");
    for field in [&pid, &uid, "ns=default"] {
        assert!(attached.contains(field), "{field}: {attached}");
    }
    let detached = line("app detached");
    for field in [&pid, &uid, "ns=default", "hangup"] {
        assert!(detached.contains(field), "{field}: {detached}");
    }
    let refused = line("attach refused");
    assert!(refused.contains("invalid namespace"), "{refused}");
    // Nothing below info by default.
    assert!(!err.contains("DEBUG"), "{err}");
}

#[test]
fn namespace_secrets_from_a_file_or_the_environment_and_argv_warns() {
    let blue = sock_path("bin-secret-blue");
    let file = sock_path("bin-secret-file");
    std::fs::write(&file, "31\n").unwrap();
    let chmod = |mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(0o600);
    let attach = |secret: u64| {
        let mut req = attach_req("secret-app");
        req.namespace_secret = secret;
        TestApp::attach_with(&blue, req).map(drop)
    };
    let ns = format!("blue:{}", blue.display());
    let dflt = sock_path("bin-secret");
    let from_file = stackd()
        .arg("--socket")
        .arg(&dflt)
        .args(["--namespace", &ns, "--secret-file"])
        .arg(format!("blue={}", file.display()))
        // The file wins over the environment.
        .env("CT_STACKD_SECRET_BLUE", "99")
        .clone_cmd();
    for (mut cmd, secret, warns) in [
        (from_file, 31, false),
        (
            stackd()
                .arg("--socket")
                .arg(&dflt)
                .args(["--namespace", &ns])
                .env("CT_STACKD_SECRET_BLUE", "32")
                .clone_cmd(),
            32,
            false,
        ),
        (
            stackd()
                .arg("--socket")
                .arg(&dflt)
                .args(["--namespace", &format!("blue:33:{}", blue.display())])
                .clone_cmd(),
            33,
            true,
        ),
    ] {
        let child = spawn_serving(&mut cmd, &[&dflt, &blue]);
        assert_eq!(
            attach(secret + 1).err(),
            Some(ct_app_interface::SessionError::WrongNsSecret.code())
        );
        assert_eq!(attach(secret), Ok(()));
        let (status, err) = terminate(child);
        assert!(status.success(), "{err}");
        assert_eq!(err.contains("can be read by every user"), warns, "{err}");
        assert!(!err.contains("readable by other users"), "{err}");
    }
    // A secret file others may read works, with a warning.
    chmod(0o644);
    let child = spawn_serving(
        stackd()
            .arg("--socket")
            .arg(&dflt)
            .args(["--namespace", &ns, "--secret-file"])
            .arg(format!("blue={}", file.display())),
        &[&dflt, &blue],
    );
    assert_eq!(attach(31), Ok(()));
    let (status, err) = terminate(child);
    assert!(status.success(), "{err}");
    assert!(err.contains("readable by other users"), "{err}");
    std::fs::remove_file(&file).unwrap();
}

/// A copy of a command's program, arguments and environment (a
/// `Command` cannot be cloned, and the table above holds several).
trait CloneCmd {
    fn clone_cmd(&mut self) -> Command;
}

impl CloneCmd for Command {
    fn clone_cmd(&mut self) -> Command {
        let mut c = Command::new(self.get_program());
        c.args(self.get_args());
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }
}

/// The fd limit that leaves process `pid` room for `n` more fds (new fds
/// take the lowest free number, gaps included).
fn fd_limit_with_room(pid: u32, n: usize) -> u64 {
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut free = 0;
    let mut limit = 0;
    while free < n {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    // Fds above the limit (inherited ones) stay open and take no room.
    limit
}

#[test]
fn accept_at_the_fd_limit_is_logged_and_the_daemon_recovers() {
    use rustix::process::{Resource, Rlimit, prlimit};
    let path = sock_path("bin-emfile");
    let child = spawn_serving(stackd().arg("--socket").arg(&path), &[&path]);
    let pid = Pid::from_child(&child);
    let guard = KillOnDrop(child.id());
    // Room for two more fds only (the hard limit stays: raising it back
    // needs a privilege).
    let cur = fd_limit_with_room(child.id(), 2);
    let old = rustix::process::getrlimit(Resource::Nofile);
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: Some(cur),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let held: Vec<_> = (0..8)
        .map(|_| ct_app_interface::sapi::SapiSocket::connect(&path).unwrap())
        .collect();
    // The daemon accepts what it can; the rest wait in the backlog while
    // accept fails.
    std::thread::sleep(Duration::from_millis(300));
    drop(held);
    prlimit(Some(pid), Resource::Nofile, old).unwrap();
    // Back under the limit, an app attaches again.
    let deadline = Instant::now() + WAIT;
    let app = loop {
        match ct_app_interface::sapi::SapiSocket::connect(&path) {
            Ok(s) => match request(
                &s,
                &ct_app_interface::wire::SapiMsg::AttachReq(attach_req("after")),
            )
            .0
            {
                ct_app_interface::wire::SapiMsg::AttachReply(r) if r.error == 0 => break s,
                _ => {}
            },
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "no attach after the fd limit");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(app);
    std::mem::forget(guard);
    let (status, err) = terminate(child);
    assert!(status.success(), "{err}");
    let lines: Vec<_> = err
        .lines()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(!lines.is_empty(), "{err}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("Too many open files"),
        "{}",
        lines[0]
    );
    // At most one line a second, not one per failed accept.
    assert!(lines.len() <= 3, "{err}");
}

/// Kills process `.0` when a failed test unwinds past it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = Pid::from_raw(self.0 as i32) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}

#[test]
fn strikes_and_the_detach_they_cause_are_logged() {
    let path = sock_path("bin-strikes");
    let child = spawn_serving(
        stackd().args(["--max-strikes", "2", "--socket"]).arg(&path),
        &[&path],
    );
    let guard = KillOnDrop(child.id());
    let app = TestApp::attach(&path, "striker");
    for _ in 0..2 {
        app.sock.send_raw(b"garbage!!!!!", &[]).unwrap();
    }
    assert!(app.socket_closed(Instant::now() + WAIT));
    drop(app);
    std::thread::sleep(Duration::from_millis(100));
    std::mem::forget(guard);
    let (status, err) = terminate(child);
    assert!(status.success(), "{err}");
    let strikes: Vec<_> = err.lines().filter(|l| l.contains(" strike ")).collect();
    assert_eq!(strikes.len(), 2, "{err}");
    assert!(
        strikes[1].contains("strikes=2") && strikes[1].contains("max=2"),
        "{err}"
    );
    assert!(err.contains("too many bad messages"), "{err}");
    let detached = err
        .lines()
        .find(|l| l.contains("app detached"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        detached.contains("name=striker") && detached.contains("\"strikes\""),
        "{detached}"
    );
}
