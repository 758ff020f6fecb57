//! How the session layer finds the listener for a connect: a global table
//! per fib (exact endpoint, then a wildcard listener on the zero address),
//! and an app namespace's local table whose rules act first (drop, allow,
//! or send the connect to an app). Listen sessions come from the stack's
//! listener pool and their handles carry a generation: after a free, the
//! old handle is stale, never another listener that reused the slot.
//!
//! `cargo run -p ct-session --example lookup`

use std::net::IpAddr;

use ct_session::{
    IpPrefix, LocalLookup, RuleAction, SessionConfig, SessionEndpoint, SessionError, SessionMain,
    SessionRule, SessionType, TransportProto,
};

fn ep(ip: &str, port: u16) -> Result<SessionEndpoint, Box<dyn std::error::Error>> {
    Ok(SessionEndpoint::new(
        ip.parse::<IpAddr>()?,
        port,
        TransportProto::Tcp,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (main, _workers) = SessionMain::new(SessionConfig::new(1));
    let lookup = main.lookup();
    let tcp4 = SessionType::new(TransportProto::Tcp, true);

    // A wildcard listener on port 80 and an exact one on 10.0.0.1:80.
    let any80 = main.listen_session_alloc(tcp4)?;
    let exact = main.listen_session_alloc(tcp4)?;
    lookup.add_listener(&ep("0.0.0.0", 80)?, any80)?;
    lookup.add_listener(&ep("10.0.0.1", 80)?, exact)?;
    let to = |ip| -> Result<_, Box<dyn std::error::Error>> {
        Ok(lookup.lookup_listener_wildcard(&ep(ip, 80)?))
    };
    assert_eq!(to("10.0.0.1")?, Some(exact));
    assert_eq!(to("10.0.0.2")?, Some(any80));
    println!("10.0.0.1:80 -> exact listener, 10.0.0.2:80 -> wildcard listener");

    // A namespace's local table: a listener, and a rule that drops
    // connects to 10.9.0.0/16 whatever listens there.
    let local = lookup.alloc_local_table()?;
    lookup.add_local_listener(local, &ep("127.0.0.1", 7000)?, exact)?;
    let rule = SessionRule::remote(
        TransportProto::Tcp,
        IpPrefix::new("10.9.0.0".parse()?, 16)?,
        0,
    );
    lookup.add_rule(ct_session::TableId::Local(local), rule, RuleAction::Drop)?;
    assert_eq!(
        lookup.lookup_local_endpoint(local, &ep("127.0.0.1", 7000)?)?,
        LocalLookup::Listener(exact)
    );
    assert_eq!(
        lookup.lookup_local_endpoint(local, &ep("10.9.1.1", 7000)?)?,
        LocalLookup::Drop
    );
    println!("local table: 127.0.0.1:7000 -> listener, 10.9.1.1:7000 -> dropped by a rule");

    // Free a listener: its handle goes stale; a new one never aliases it.
    lookup.del_listener(&ep("0.0.0.0", 80)?)?;
    main.listen_session_free(any80)?;
    let again = main.listen_session_alloc(tcp4)?;
    assert_ne!(again, any80);
    assert!(!main.listen_session_is_valid(any80));
    let err: SessionError = main.listen_session_get(any80).unwrap_err();
    println!(
        "freed listener: its old handle is stale ({err}); the slot came back with a new generation"
    );
    Ok(())
}
