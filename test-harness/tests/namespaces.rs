//! Many apps over ct: three servers and five clients spread over app
//! namespaces and scopes. A local-scope client reaches exactly the server
//! of its own namespace on a port; other namespaces, other ports and
//! global-only clients do not reach it. Every session carries its own data.

mod common;

use common::*;
use ct_app_worker::{AppEvent, NamespaceConfig, Scope};
use ct_echo::loopback;
use ct_session::SessionError;

struct Server {
    app: App,
    tag: &'static str,
}

#[test]
fn three_servers_five_clients_namespaces_and_scopes() {
    for workers in [0, 2] {
        run(workers);
    }
}

fn run(workers: u32) {
    let mut env = Env::new(workers);
    let apps = env.stack.apps().clone();
    apps.namespace_add(NamespaceConfig::new("blue", 11))
        .unwrap();
    apps.namespace_add(NamespaceConfig::new("red", 22)).unwrap();
    let attach = |env: &Env, name: &str, ns: Option<(&str, u64)>, scope: Scope| {
        let mut o = Env::opts(name, scope, 4096);
        if let Some((id, secret)) = ns {
            o = o.with_namespace(id, secret);
        }
        env.attach_opts(o)
    };
    // A wrong secret is refused before anything is made.
    let bad = Env::opts("intruder", Scope::LOCAL, 4096).with_namespace("blue", 12);
    assert_eq!(
        env.stack.attach(bad).map(|_| ()),
        Err(SessionError::WrongNsSecret)
    );

    let servers = [
        Server {
            app: attach(&env, "srv-default", None, Scope::LOCAL),
            tag: "default",
        },
        Server {
            app: attach(&env, "srv-blue", Some(("blue", 11)), Scope::LOCAL),
            tag: "blue",
        },
        Server {
            app: attach(&env, "srv-red", Some(("red", 22)), Scope::LOCAL),
            tag: "red",
        },
    ];
    // All three on the same port: each namespace has its own local table.
    for s in &servers {
        env.listen(&s.app, 7000);
    }
    let c_default = attach(&env, "cli-default", None, Scope::LOCAL);
    let c_blue1 = attach(&env, "cli-blue-1", Some(("blue", 11)), Scope::LOCAL);
    let c_blue2 = attach(
        &env,
        "cli-blue-2",
        Some(("blue", 11)),
        Scope::LOCAL | Scope::GLOBAL,
    );
    let c_red = attach(&env, "cli-red", Some(("red", 22)), Scope::LOCAL);
    let c_global = attach(&env, "cli-global", Some(("red", 22)), Scope::GLOBAL);

    // Who reaches whom.
    let plan: [(&App, usize); 4] = [(&c_default, 0), (&c_blue1, 1), (&c_blue2, 1), (&c_red, 2)];
    let mut pairs = Vec::new();
    for (i, (client, server)) in plan.iter().enumerate() {
        let s = &servers[*server];
        let (sf, cf) = env.establish(&s.app, client, 7000);
        // Nobody else heard of it.
        for (j, other) in servers.iter().enumerate() {
            if j != *server {
                assert!(
                    !other
                        .app
                        .q
                        .drain()
                        .iter()
                        .any(|m| matches!(m, AppEvent::Accepted { .. })),
                    "client {i} reached {}",
                    other.tag
                );
            }
        }
        pairs.push((i, *server, sf, cf));
    }
    // A global-only client does not use ct at all: no local peer for it.
    assert!(env.stack.connect(c_global.wrk, loopback(7000), 9).is_err());
    // A local client to a port nobody in its namespace listens on.
    assert!(env.stack.connect(c_red.wrk, loopback(7001), 9).is_err());
    for s in &servers {
        assert!(
            !s.app
                .q
                .drain()
                .iter()
                .any(|m| matches!(m, AppEvent::Accepted { .. }))
        );
    }

    // Data: every client says who it is, its server answers with its tag.
    let mut ios: Vec<_> = pairs
        .iter()
        .map(|(i, srv, sf, cf)| (*i, *srv, env.io(sf), env.io(cf)))
        .collect();
    for (i, _, _, c) in ios.iter_mut() {
        let msg = format!("client-{i}");
        assert_eq!(c.write(msg.as_bytes()).unwrap(), msg.len());
    }
    env.idle();
    for (i, srv, s, _) in ios.iter_mut() {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], format!("client-{i}").as_bytes());
        s.write(servers[*srv].tag.as_bytes()).unwrap();
    }
    env.idle();
    for (_, srv, _, c) in ios.iter_mut() {
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], servers[*srv].tag.as_bytes());
    }
    drop(ios);

    // Everyone detaches, clients first for half of them: nothing leaks.
    for c in [&c_default, &c_blue1, &c_blue2, &c_red, &c_global] {
        env.stack.detach(c.app).unwrap();
    }
    for s in &servers {
        env.stack.detach(s.app.app).unwrap();
    }
    env.assert_clean();
    assert!(env.stack.segment_managers().is_empty());
    assert_eq!(env.ct.n_listeners(), 0);
    assert_eq!(env.stack.apps().n_apps(), 0);
    // Namespaces can go once empty.
    apps.namespace_del("blue").unwrap();
    apps.namespace_del("red").unwrap();
}
