//! App names against a real daemon: default names let two copies run, a
//! name in use is a clear `AddrInUse`.

mod daemon;

use std::io::ErrorKind;

use ct_app_client::{AppClient, AttachConfig, ClientError, SessionError, client_error};
use daemon::Daemon;

#[test]
fn default_names_attach_side_by_side() {
    let d = Daemon::start("names");
    let a = AppClient::attach(&d.sock, AttachConfig::default()).unwrap();
    let b = AppClient::attach(&d.sock, AttachConfig::default()).unwrap();
    assert_ne!(a.app_index(), b.app_index());
    drop((a, b));
    d.stop();
}

#[test]
fn a_name_in_use_is_addr_in_use_naming_it() {
    let d = Daemon::start("clash");
    let first = d.attach("clash-app");
    let e = AppClient::attach(&d.sock, AttachConfig::new("clash-app")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains("\"clash-app\""), "{e}");
    assert!(matches!(
        client_error(&e),
        Some(ClientError::NameInUse { name, .. }) if name == "clash-app"
    ));
    assert_eq!(
        ct_app_client::session_error(&e),
        Some(SessionError::AppAttached)
    );
    // Once the first detached, the name is free again.
    first.detach().unwrap();
    let again = d.attach("clash-app");
    drop(again);
    d.stop();
}

#[test]
fn options_the_stack_would_refuse_are_refused_here() {
    let d = Daemon::start("options");
    for cfg in [
        AttachConfig::new(""),
        AttachConfig {
            scope: 1 << 7,
            ..AttachConfig::default()
        },
        AttachConfig {
            segment_size: 64 << 10,
            ..AttachConfig::default().with_fifo_size(64 << 10)
        },
    ] {
        let e = AppClient::attach(&d.sock, cfg).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    d.stop();
}

#[test]
fn a_daemon_of_another_uid_is_refused_when_the_app_names_one() {
    let d = Daemon::start("daemon-uid");
    let me = rustix::process::getuid().as_raw();
    let ok = AppClient::attach(&d.sock, AttachConfig::default().with_daemon_uid(me)).unwrap();
    let other = me.wrapping_add(1);
    let e = AppClient::attach(&d.sock, AttachConfig::default().with_daemon_uid(other)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains(&format!("not {other}")), "{e}");
    drop(ok);
    d.stop();
}
