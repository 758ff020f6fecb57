//! Tests of [`SessionLookup`] through its public API.

use ct_sync::unmodeled::atomic::{AtomicBool, Ordering};
use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::endpoint::TransportProto;
use crate::handle::SessionHandle;

const TCP: TransportProto = TransportProto::Tcp;
const UDP: TransportProto = TransportProto::Udp;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sep(addr: &str, port: u16) -> SessionEndpoint {
    SessionEndpoint::new(ip(addr), port, TCP)
}

fn lh(index: u32) -> ListenerHandle {
    SessionHandle::new(0, index, 0)
}

fn pfx(addr: &str, len: u8) -> IpPrefix {
    IpPrefix::new(ip(addr), len).unwrap()
}

#[test]
fn global_exact_ip4_and_ip6() {
    let l = SessionLookup::new();
    l.add_listener(&sep("10.0.0.1", 80), lh(1)).unwrap();
    l.add_listener(&sep("fd00::1", 80), lh(2)).unwrap();
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 80)), Some(lh(1)));
    assert_eq!(l.lookup_listener(&sep("fd00::1", 80)), Some(lh(2)));
    assert_eq!(l.lookup_listener_wildcard(&sep("fd00::1", 80)), Some(lh(2)));
    assert_eq!(l.lookup_listener(&sep("10.0.0.2", 80)), None);
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 81)), None);
    assert_eq!(
        l.lookup_listener(&SessionEndpoint::new(ip("10.0.0.1"), 80, UDP)),
        None
    );
    assert_eq!(l.lookup_listener(&sep("fd00::2", 80)), None);
}

#[test]
fn global_wildcard_only_for_wildcard_lookups() {
    let l = SessionLookup::new();
    l.add_listener(&sep("0.0.0.0", 80), lh(1)).unwrap();
    l.add_listener(&sep("::", 80), lh(6)).unwrap();
    // ct's global step: any local address of the fib reaches the wildcard.
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.9", 80)),
        Some(lh(1))
    );
    assert_eq!(
        l.lookup_listener_wildcard(&sep("127.0.0.1", 80)),
        Some(lh(1))
    );
    assert_eq!(l.lookup_listener_wildcard(&sep("fd00::9", 80)), Some(lh(6)));
    assert_eq!(l.lookup_listener_wildcard(&sep("10.0.0.9", 81)), None);
    // The non-wildcard lookup does not zero the address.
    assert_eq!(l.lookup_listener(&sep("10.0.0.9", 80)), None);
    // An exact listener wins over the wildcard.
    l.add_listener(&sep("10.0.0.9", 80), lh(2)).unwrap();
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.9", 80)),
        Some(lh(2))
    );
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.8", 80)),
        Some(lh(1))
    );
}

#[test]
fn global_families_do_not_mix() {
    let l = SessionLookup::new();
    l.add_listener(&sep("0.0.0.0", 80), lh(1)).unwrap();
    assert_eq!(l.lookup_listener_wildcard(&sep("fd00::9", 80)), None);
    assert_eq!(l.lookup_listener_wildcard(&sep("::1", 80)), None);
}

#[test]
fn global_proxy_listener_is_last_resort() {
    let l = SessionLookup::new();
    l.add_listener(&sep("10.0.0.1", 0), lh(9)).unwrap();
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 1234)), Some(lh(9)));
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.1", 1234)),
        Some(lh(9))
    );
    l.add_listener(&sep("0.0.0.0", 1234), lh(1)).unwrap();
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.1", 1234)),
        Some(lh(1))
    );
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 1234)), Some(lh(9)));
}

#[test]
fn fibs_are_separate_tables() {
    let l = SessionLookup::new();
    let in_fib1 = sep("10.0.0.1", 80).with_fib_index(1);
    l.add_listener(&in_fib1, lh(1)).unwrap();
    assert_eq!(l.lookup_listener(&in_fib1), Some(lh(1)));
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 80)), None);
    assert!(l.fib_table(FibProto::Ip4, 1).is_some());
    assert!(l.fib_table(FibProto::Ip6, 1).is_none());
    // No table: no listener, and nothing to delete.
    let in_fib7 = sep("10.0.0.1", 80).with_fib_index(7);
    assert_eq!(l.lookup_listener_wildcard(&in_fib7), None);
    assert_eq!(l.del_listener(&in_fib7), Err(SessionError::NoListen));
    assert!(l.fib_table(FibProto::Ip4, 7).is_none());
    assert_eq!(
        l.get_or_alloc_fib_table(FibProto::Ip4, 7),
        Ok(TableId::for_endpoint(&in_fib7))
    );
    assert!(l.fib_table(FibProto::Ip4, 7).is_some());
}

#[test]
fn duplicate_listener_is_already_listening() {
    let l = SessionLookup::new();
    l.add_listener(&sep("10.0.0.1", 80), lh(1)).unwrap();
    assert_eq!(
        l.add_listener(&sep("10.0.0.1", 80), lh(2)),
        Err(SessionError::AlreadyListening)
    );
    // The first registration stands.
    assert_eq!(l.lookup_listener(&sep("10.0.0.1", 80)), Some(lh(1)));
    // Other address, protocol or fib: a different key.
    l.add_listener(&sep("10.0.0.2", 80), lh(2)).unwrap();
    l.add_listener(&SessionEndpoint::new(ip("10.0.0.1"), 80, UDP), lh(3))
        .unwrap();
    l.add_listener(&sep("10.0.0.1", 80).with_fib_index(2), lh(4))
        .unwrap();

    let ns = l.alloc_local_table().unwrap();
    l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(5))
        .unwrap();
    assert_eq!(
        l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(6)),
        Err(SessionError::AlreadyListening)
    );
    assert_eq!(l.listener_count(), 5);
}

#[test]
fn del_removes_and_returns_the_handle() {
    let l = SessionLookup::new();
    l.add_listener(&sep("0.0.0.0", 80), lh(1)).unwrap();
    l.add_listener(&sep("fd00::1", 80), lh(2)).unwrap();
    assert_eq!(l.del_listener(&sep("0.0.0.0", 80)), Ok(lh(1)));
    assert_eq!(l.lookup_listener_wildcard(&sep("10.0.0.1", 80)), None);
    assert_eq!(
        l.del_listener(&sep("0.0.0.0", 80)),
        Err(SessionError::NoListen)
    );
    assert_eq!(l.del_listener(&sep("fd00::1", 80)), Ok(lh(2)));
    // The endpoint is free again.
    l.add_listener(&sep("0.0.0.0", 80), lh(3)).unwrap();
    assert_eq!(
        l.lookup_listener_wildcard(&sep("10.0.0.1", 80)),
        Some(lh(3))
    );

    let ns = l.alloc_local_table().unwrap();
    l.add_local_listener(ns, &sep("127.0.0.1", 80), lh(4))
        .unwrap();
    assert_eq!(l.del_local_listener(ns, &sep("127.0.0.1", 80)), Ok(lh(4)));
    assert!(
        l.lookup_local_endpoint(ns, &sep("127.0.0.1", 80))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        l.del_local_listener(ns, &sep("127.0.0.1", 80)),
        Err(SessionError::NoListen)
    );
    assert_eq!(l.del_listener(&sep("0.0.0.0", 80)), Ok(lh(3)));
    assert_eq!(l.listener_count(), 0);
}

#[test]
fn bad_listener_registrations_are_refused() {
    let l = SessionLookup::new();
    let worker_session = SessionHandle::new(1, 3, 0);
    assert_eq!(
        l.add_listener(&sep("10.0.0.1", 80), worker_session),
        Err(SessionError::Invalid)
    );
    assert_eq!(
        l.add_listener(&sep("10.0.0.1", 80).with_fib_index(u32::MAX), lh(1)),
        Err(SessionError::Invalid)
    );
    assert_eq!(
        l.get_or_alloc_fib_table(FibProto::Ip6, u32::MAX),
        Err(SessionError::Invalid)
    );
    assert_eq!(l.listener_count(), 0);
}

#[test]
fn local_exact_loopback_wildcard_and_proxy() {
    let l = SessionLookup::new();
    let ns = l.alloc_local_table().unwrap();
    l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(1))
        .unwrap();
    l.add_local_listener(ns, &sep("::", 80), lh(6)).unwrap();
    l.add_local_listener(ns, &sep("10.0.0.1", 80), lh(2))
        .unwrap();

    let found = |e: SessionEndpoint| l.lookup_local_endpoint(ns, &e).unwrap();
    assert_eq!(found(sep("10.0.0.1", 80)), LocalLookup::Listener(lh(2)));
    // Loopback may use a zero-address listener; other addresses may not.
    assert_eq!(found(sep("127.0.0.1", 80)), LocalLookup::Listener(lh(1)));
    assert_eq!(found(sep("127.9.9.9", 80)), LocalLookup::Listener(lh(1)));
    assert_eq!(found(sep("::1", 80)), LocalLookup::Listener(lh(6)));
    assert_eq!(found(sep("10.0.0.2", 80)), LocalLookup::None);
    assert_eq!(found(sep("fd00::1", 80)), LocalLookup::None);
    assert_eq!(found(sep("127.0.0.1", 81)), LocalLookup::None);
    // A proxy (zero address, port 0) catches what is left, per protocol.
    l.add_local_listener(ns, &sep("0.0.0.0", 0), lh(3)).unwrap();
    assert_eq!(found(sep("10.0.0.2", 80)), LocalLookup::Listener(lh(3)));
    assert_eq!(found(sep("127.0.0.1", 81)), LocalLookup::Listener(lh(3)));
    assert_eq!(
        found(SessionEndpoint::new(ip("10.0.0.2"), 80, UDP)),
        LocalLookup::None
    );
}

#[test]
fn local_and_global_tables_are_separate() {
    let l = SessionLookup::new();
    let ns_a = l.alloc_local_table().unwrap();
    let ns_b = l.alloc_local_table().unwrap();
    l.add_listener(&sep("0.0.0.0", 80), lh(1)).unwrap();
    l.add_local_listener(ns_a, &sep("0.0.0.0", 90), lh(2))
        .unwrap();

    assert_eq!(
        l.lookup_local_endpoint(ns_a, &sep("127.0.0.1", 80)),
        Ok(LocalLookup::None)
    );
    assert_eq!(
        l.lookup_local_endpoint(ns_a, &sep("127.0.0.1", 90)),
        Ok(LocalLookup::Listener(lh(2)))
    );
    assert_eq!(
        l.lookup_local_endpoint(ns_b, &sep("127.0.0.1", 90)),
        Ok(LocalLookup::None)
    );
    assert_eq!(l.lookup_listener_wildcard(&sep("127.0.0.1", 90)), None);
    assert_eq!(
        l.lookup_listener_wildcard(&sep("127.0.0.1", 80)),
        Some(lh(1))
    );
}

#[test]
fn local_drop_rule_beats_listener_allow_falls_through_app_redirects() {
    let l = SessionLookup::new();
    let ns = l.alloc_local_table().unwrap();
    let t = TableId::Local(ns);
    l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(1))
        .unwrap();
    l.add_local_listener(ns, &sep("::", 80), lh(6)).unwrap();

    let lo = sep("127.0.0.1", 80);
    assert_eq!(
        l.lookup_local_endpoint(ns, &lo),
        Ok(LocalLookup::Listener(lh(1)))
    );

    let drop_lo = SessionRule::remote(TCP, pfx("127.0.0.0", 8), 0);
    assert_eq!(l.add_rule(t, drop_lo, RuleAction::Drop), Ok(None));
    assert_eq!(l.lookup_local_endpoint(ns, &lo), Ok(LocalLookup::Drop));
    // Other protocol or family: the rule does not apply.
    let lo6 = sep("::1", 80);
    assert_eq!(
        l.lookup_local_endpoint(ns, &lo6),
        Ok(LocalLookup::Listener(lh(6)))
    );

    // A more specific Allow lets one host through to the listener.
    let allow_one = SessionRule::remote(TCP, IpPrefix::host(ip("127.0.0.1")), 80);
    l.add_rule(t, allow_one, RuleAction::Allow).unwrap();
    assert_eq!(
        l.lookup_local_endpoint(ns, &lo),
        Ok(LocalLookup::Listener(lh(1)))
    );
    assert_eq!(
        l.lookup_local_endpoint(ns, &sep("127.0.0.2", 80)),
        Ok(LocalLookup::Drop)
    );

    // An app rule redirects even where a listener exists.
    l.add_rule(t, allow_one, RuleAction::App(42)).unwrap();
    assert_eq!(l.lookup_local_endpoint(ns, &lo), Ok(LocalLookup::App(42)));

    // Deleting the rules restores the listener.
    assert_eq!(l.del_rule(t, &allow_one), Ok(RuleAction::App(42)));
    assert_eq!(l.del_rule(t, &drop_lo), Ok(RuleAction::Drop));
    assert_eq!(
        l.lookup_local_endpoint(ns, &lo),
        Ok(LocalLookup::Listener(lh(1)))
    );
    assert_eq!(l.rule_count(), 0);
}

#[test]
fn drop_rule_applies_without_any_listener() {
    let l = SessionLookup::new();
    let ns = l.alloc_local_table().unwrap();
    let rule = SessionRule::remote(TCP, pfx("fd00::", 16), 443);
    l.add_rule(TableId::Local(ns), rule, RuleAction::Drop)
        .unwrap();
    assert_eq!(
        l.lookup_local_endpoint(ns, &sep("fd00::5", 443)),
        Ok(LocalLookup::Drop)
    );
    assert_eq!(
        l.lookup_local_endpoint(ns, &sep("fd00::5", 444)),
        Ok(LocalLookup::None)
    );
}

#[test]
fn endpoint_listener_prefers_listener_over_rule() {
    let l = SessionLookup::new();
    let e = sep("10.0.0.1", 80);
    let t = TableId::for_endpoint(&e);
    assert_eq!(
        l.lookup_endpoint_listener(t, &e, true),
        Ok(LocalLookup::None)
    );

    let rule = SessionRule::remote(TCP, pfx("10.0.0.0", 8), 0);
    l.add_rule(t, rule, RuleAction::Drop).unwrap();
    assert_eq!(
        l.lookup_endpoint_listener(t, &e, true),
        Ok(LocalLookup::Drop)
    );
    assert_eq!(
        l.lookup_endpoint_listener(t, &e, false),
        Ok(LocalLookup::None)
    );
    l.add_listener(&e, lh(1)).unwrap();
    assert_eq!(
        l.lookup_endpoint_listener(t, &e, true),
        Ok(LocalLookup::Listener(lh(1)))
    );
    // Global rules do not affect the listener lookups ct uses.
    assert_eq!(l.lookup_listener_wildcard(&e), Some(lh(1)));

    let ns = l.alloc_local_table().unwrap();
    l.add_rule(TableId::Local(ns), rule, RuleAction::App(3))
        .unwrap();
    l.add_local_listener(ns, &e, lh(2)).unwrap();
    assert_eq!(
        l.lookup_endpoint_listener(TableId::Local(ns), &e, true),
        Ok(LocalLookup::Listener(lh(2)))
    );
    assert_eq!(l.lookup_local_endpoint(ns, &e), Ok(LocalLookup::App(3)));
}

#[test]
fn rules_are_scoped_to_their_table() {
    let l = SessionLookup::new();
    let fib4 = l.get_or_alloc_fib_table(FibProto::Ip4, 0).unwrap();
    let v6_rule = SessionRule::remote(TCP, pfx("fd00::", 8), 0);
    assert_eq!(
        l.add_rule(fib4, v6_rule, RuleAction::Drop),
        Err(SessionError::Invalid)
    );
    let ct_rule = SessionRule::remote(TransportProto::Ct, pfx("10.0.0.0", 8), 0);
    assert_eq!(
        l.add_rule(fib4, ct_rule, RuleAction::Drop),
        Err(SessionError::Invalid)
    );

    // A local rule's local side is cleared, on add and on del alike.
    let ns = l.alloc_local_table().unwrap();
    let with_lcl = SessionRule {
        transport_proto: TCP,
        lcl: pfx("192.168.0.0", 16),
        lcl_port: 5000,
        rmt: pfx("10.0.0.0", 8),
        rmt_port: 80,
    };
    l.add_rule(TableId::Local(ns), with_lcl, RuleAction::Drop)
        .unwrap();
    let stored = l.rules(TableId::Local(ns)).unwrap();
    assert_eq!(
        stored,
        vec![(
            SessionRule::remote(TCP, pfx("10.0.0.0", 8), 80),
            RuleAction::Drop
        )]
    );
    assert_eq!(
        l.lookup_local_endpoint(ns, &sep("10.1.1.1", 80)),
        Ok(LocalLookup::Drop)
    );
    assert_eq!(
        l.del_rule(TableId::Local(ns), &with_lcl),
        Ok(RuleAction::Drop)
    );
    assert_eq!(
        l.del_rule(TableId::Local(ns), &with_lcl),
        Err(SessionError::Invalid)
    );
    let fib9 = TableId::Fib {
        fib_proto: FibProto::Ip4,
        fib_index: 9,
    };
    assert_eq!(l.del_rule(fib9, &with_lcl), Err(SessionError::Invalid));
    assert_eq!(l.rules(fib9), Ok(vec![]));
}

#[test]
fn stale_local_table_ids_are_invalid_ns() {
    let l = SessionLookup::new();
    let old = l.alloc_local_table().unwrap();
    l.add_local_listener(old, &sep("0.0.0.0", 80), lh(1))
        .unwrap();
    l.free_local_table(old).unwrap();
    assert_eq!(l.local_table_count(), 0);
    assert_eq!(l.listener_count(), 0);
    assert_eq!(l.free_local_table(old), Err(SessionError::InvalidNs));

    // The slot is reused under a new generation; the old id stays refused.
    let new = l.alloc_local_table().unwrap();
    assert_eq!(new.index(), old.index());
    assert_ne!(new.generation(), old.generation());
    let lo = sep("127.0.0.1", 80);
    assert_eq!(l.lookup_local_endpoint(new, &lo), Ok(LocalLookup::None));
    assert_eq!(
        l.lookup_local_endpoint(old, &lo),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(
        l.add_local_listener(old, &lo, lh(2)),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(l.del_local_listener(old, &lo), Err(SessionError::InvalidNs));
    let rule = SessionRule::remote(TCP, pfx("10.0.0.0", 8), 0);
    assert_eq!(
        l.add_rule(TableId::Local(old), rule, RuleAction::Drop),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(
        l.del_rule(TableId::Local(old), &rule),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(
        l.lookup_endpoint_listener(TableId::Local(old), &lo, true),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(
        l.listeners(TableId::Local(old)),
        Err(SessionError::InvalidNs)
    );
    assert_eq!(l.rules(TableId::Local(old)), Err(SessionError::InvalidNs));
    // Nothing of the refused calls landed in the new table.
    assert_eq!(l.listener_count(), 0);
    assert_eq!(l.rule_count(), 0);
    l.free_local_table(new).unwrap();
}

#[test]
fn listeners_view_carries_fib_index() {
    let l = SessionLookup::new();
    let e = sep("10.0.0.1", 80).with_fib_index(3);
    l.add_listener(&e, lh(1)).unwrap();
    let t = TableId::for_endpoint(&e);
    assert_eq!(l.listeners(t), Ok(vec![(e, lh(1))]));
}

/// The decisions of the reference's `ct_session_connect`, written against
/// this API: the lookups it needs are all here and answer as VPP's do.
fn ct_connect_decision(
    l: &SessionLookup,
    ns: LocalTableId,
    app_of: impl Fn(ListenerHandle) -> u32,
    my_app: u32,
    has_global_scope: bool,
    rmt: &SessionEndpoint,
) -> Result<ListenerHandle, SessionError> {
    rmt.check_remote()?;
    match l.lookup_local_endpoint(ns, rmt)? {
        LocalLookup::Drop => return Err(SessionError::Filtered),
        LocalLookup::Listener(ll) if app_of(ll) != my_app => return Ok(ll),
        // An app rule or the app's own listener: route through the global
        // table instead (app rules resolve in the app layer, not here).
        LocalLookup::Listener(_) | LocalLookup::App(_) | LocalLookup::None => {}
    }
    if rmt.is_local() {
        return Err(SessionError::NoRoute);
    }
    if !has_global_scope {
        return Err(SessionError::Scope);
    }
    match l.lookup_listener_wildcard(rmt) {
        Some(ll) if app_of(ll) != my_app => Ok(ll),
        _ => Err(SessionError::LocalConnect),
    }
}

#[test]
fn serves_ct_session_connect() {
    let l = SessionLookup::new();
    let ns = l.alloc_local_table().unwrap();
    // Listener index n belongs to app n / 10.
    let app_of = |h: ListenerHandle| h.session_index() / 10;
    l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(10))
        .unwrap();
    l.add_listener(&sep("0.0.0.0", 8080), lh(20)).unwrap();
    l.add_listener(&sep("0.0.0.0", 9090), lh(30)).unwrap();

    let connect =
        |rmt: SessionEndpoint, app: u32| ct_connect_decision(&l, ns, app_of, app, true, &rmt);
    assert_eq!(connect(sep("127.0.0.1", 80), 5), Ok(lh(10)));
    assert_eq!(
        connect(sep("0.0.0.0", 80), 5),
        Err(SessionError::InvalidRmtIp)
    );
    assert_eq!(connect(sep("127.0.0.1", 81), 5), Err(SessionError::NoRoute));
    assert_eq!(connect(sep("10.0.0.1", 8080), 5), Ok(lh(20)));
    // Never to one's own listener.
    assert_eq!(
        connect(sep("10.0.0.1", 8080), 2),
        Err(SessionError::LocalConnect)
    );
    assert_eq!(
        ct_connect_decision(&l, ns, app_of, 5, false, &sep("10.0.0.1", 8080)),
        Err(SessionError::Scope)
    );
    l.add_rule(
        TableId::Local(ns),
        SessionRule::remote(TCP, pfx("10.0.0.0", 8), 9090),
        RuleAction::Drop,
    )
    .unwrap();
    assert_eq!(
        connect(sep("10.0.0.1", 9090), 5),
        Err(SessionError::Filtered)
    );
    assert_eq!(connect(sep("10.0.0.1", 8080), 5), Ok(lh(20)));
}

#[test]
fn concurrent_readers_see_whole_updates() {
    let l = Arc::new(SessionLookup::new());
    let ns = l.alloc_local_table().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (l, stop) = (Arc::clone(&l), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    match l.lookup_local_endpoint(ns, &sep("127.0.0.1", 80)) {
                        Ok(LocalLookup::Listener(h)) => {
                            assert_eq!(h, lh(1));
                            seen += 1;
                        }
                        Ok(LocalLookup::None) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                    let g = l.lookup_listener_wildcard(&sep("10.0.0.1", 80));
                    assert!(g.is_none() || g == Some(lh(2)));
                }
                seen
            })
        })
        .collect();
    for _ in 0..2000 {
        l.add_local_listener(ns, &sep("0.0.0.0", 80), lh(1))
            .unwrap();
        l.add_listener(&sep("0.0.0.0", 80), lh(2)).unwrap();
        assert_eq!(l.del_local_listener(ns, &sep("0.0.0.0", 80)), Ok(lh(1)));
        assert_eq!(l.del_listener(&sep("0.0.0.0", 80)), Ok(lh(2)));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(l.listener_count(), 0);
}

#[test]
fn free_listen_port_skips_overlapping_listeners_and_wraps() {
    use crate::EPHEMERAL_PORTS;
    let l = SessionLookup::new();
    let ns = l.alloc_local_table().unwrap();
    let first = *EPHEMERAL_PORTS.start();
    let local = [TableId::Local(ns)];
    assert_eq!(
        l.free_listen_port(&local, &sep("127.0.0.1", 0), 0),
        Ok(first)
    );
    // A wildcard listener covers every address; another address does not
    // block, nor does another family or protocol.
    l.add_local_listener(ns, &sep("0.0.0.0", first), lh(1))
        .unwrap();
    l.add_local_listener(ns, &sep("127.0.0.2", first + 1), lh(2))
        .unwrap();
    l.add_local_listener(ns, &sep("::", first + 2), lh(3))
        .unwrap();
    l.add_local_listener(
        ns,
        &SessionEndpoint::new(ip("127.0.0.1"), first + 3, UDP),
        lh(4),
    )
    .unwrap();
    assert_eq!(
        l.free_listen_port(&local, &sep("127.0.0.1", 0), 0),
        Ok(first + 1)
    );
    assert_eq!(
        l.free_listen_port(&local, &sep("0.0.0.0", 0), 0),
        Ok(first + 2)
    );
    // The start is rotated by the caller and wraps at the range's end.
    let last = *EPHEMERAL_PORTS.end();
    let len = u32::from(last - first) + 1;
    l.add_local_listener(ns, &sep("127.0.0.1", last), lh(5))
        .unwrap();
    assert_eq!(
        l.free_listen_port(&local, &sep("127.0.0.1", 0), len - 1),
        Ok(first + 1)
    );
    // Global tables count too; a stale local table is an error.
    let global = TableId::for_endpoint(&sep("127.0.0.1", 0));
    l.add_listener(&sep("127.0.0.1", first + 1), lh(6)).unwrap();
    assert_eq!(
        l.free_listen_port(&[TableId::Local(ns), global], &sep("127.0.0.1", 0), 0),
        Ok(first + 2)
    );
    l.free_local_table(ns).unwrap();
    assert_eq!(
        l.free_listen_port(&local, &sep("127.0.0.1", 0), 0),
        Err(SessionError::InvalidNs)
    );
}
