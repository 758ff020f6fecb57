//! Applications attach to a stack in an app namespace (a name and a secret,
//! each with its own local session table) and with a scope (local: other
//! apps in the namespace; global: the network). This example adds a
//! namespace, shows what a wrong secret and a bad endpoint get, and that a
//! namespace cannot go while an app is in it.
//!
//! `cargo run -p ct-app-worker --example namespaces`

use std::net::Ipv4Addr;

use ct_app_worker::{AppKind, AttachOptions, NamespaceConfig, Scope, Stack};
use ct_session::{SessionEndpoint, SessionError, TransportProto};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stack = Stack::new(0)?;
    let ns = stack
        .apps()
        .namespace_add(NamespaceConfig::new("blue", 42))?;
    println!("namespace \"blue\" has index {ns}");

    let in_blue = |secret| {
        AttachOptions::new("app", AppKind::InProcess)
            .with_scope(Scope::LOCAL)
            .with_namespace("blue", secret)
    };
    let refused = stack.attach(in_blue(41)).unwrap_err();
    assert_eq!(refused, SessionError::WrongNsSecret);
    println!("attach with the wrong secret: {refused}");

    let app = stack.attach(in_blue(42))?;
    let info = stack.apps().application(app.app)?;
    println!(
        "attached: namespace index {}, local scope {}, global scope {}",
        info.ns_index(),
        info.has_local_scope(),
        info.has_global_scope()
    );

    // Endpoints are checked before any transport sees them.
    let nowhere = SessionEndpoint::new(Ipv4Addr::UNSPECIFIED.into(), 80, TransportProto::Tcp);
    let err = stack.connect(app.app_wrk, nowhere, 0).unwrap_err();
    assert_eq!(err, SessionError::InvalidRmtIp);
    println!("connect to 0.0.0.0:80: {err}");

    // A namespace with an app in it stays.
    assert!(stack.apps().namespace_del("blue").is_err());
    stack.detach(app.app)?;
    stack.apps().namespace_del("blue")?;
    println!("detached and removed the namespace");
    Ok(())
}
