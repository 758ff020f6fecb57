//! ct's connect lookups (VPP `ct_session_connect`): local table first
//! (rules, listeners), then locally attached listeners of the global scope.
//! Global listeners are of the app's protocol: a listen-only stand-in for
//! TCP serves them here (the stack has no TCP).

mod common;

use ct_sync::Mutex;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::*;
use ct_app_worker::Scope;
use ct_session::{
    IpPrefix, RuleAction, SessionEndpoint, SessionEndpointCfg, SessionError, SessionHandle,
    SessionRule, TableId, Transport, TransportConnId, TransportConnection, TransportOptions,
    TransportProto, TransportServiceType, TransportTxType, Worker,
};

/// Listens only: what a global listener of the app's protocol needs.
#[derive(Default)]
struct ListenOnly {
    listeners: Mutex<Vec<Option<TransportConnection>>>,
}

impl Transport for ListenOnly {
    fn options(&self) -> TransportOptions {
        TransportOptions {
            name: "listen-only",
            short_name: "T",
            tx_type: TransportTxType::Peek,
            service_type: TransportServiceType::Vc,
        }
    }
    fn start_listen(
        &self,
        _: &mut Worker,
        listener: SessionHandle,
        sep: &SessionEndpointCfg,
    ) -> Result<TransportConnId, SessionError> {
        // Slots are never reused (a stopped listener leaves `None`): one
        // generation is enough.
        let mut l = self.listeners.lock();
        let id = TransportConnId::new(l.len() as u32, 0);
        let mut tc = TransportConnection::new(TransportProto::Tcp, 0, id);
        tc.lcl_ip = sep.endpoint.ip;
        tc.lcl_port = sep.endpoint.port;
        tc.session = Some(listener);
        l.push(Some(tc));
        Ok(id)
    }
    fn stop_listen(&self, _: &mut Worker, id: TransportConnId) -> Result<(), SessionError> {
        let mut l = self.listeners.lock();
        let slot = l.get_mut(id.index as usize).ok_or(SessionError::NoListen)?;
        slot.take().map(drop).ok_or(SessionError::NoListen)
    }
    fn connect(
        &self,
        _: &mut Worker,
        _: &SessionEndpointCfg,
        _: SessionHandle,
    ) -> Result<TransportConnId, SessionError> {
        Err(SessionError::NoRoute)
    }
    fn close(&self, _: &mut Worker, _: TransportConnId) {}
    fn cleanup(&self, _: &mut Worker, _: TransportConnId) {}
    fn cleanup_ho(&self, _: &mut Worker, _: TransportConnId) {}
    fn get_connection(&self, _: &Worker, _: TransportConnId) -> Option<TransportConnection> {
        None
    }
    fn get_listener(&self, _: &Worker, id: TransportConnId) -> Option<TransportConnection> {
        let l = self.listeners.lock();
        l.get(id.index as usize)
            .copied()
            .flatten()
            .filter(|tc| tc.conn_id == id)
    }
    fn get_half_open(&self, _: &Worker, _: TransportConnId) -> Option<TransportConnection> {
        None
    }
}

fn env_with_tcp() -> Env {
    let env = Env::new(0);
    env.stack
        .register_transport(TransportProto::Tcp, Arc::new(ListenOnly::default()))
        .unwrap();
    env
}

fn remote(port: u16) -> SessionEndpoint {
    SessionEndpoint::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port,
        TransportProto::Tcp,
    )
}

fn any(port: u16) -> SessionEndpoint {
    SessionEndpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port, TransportProto::Tcp)
}

fn local_table(env: &Env, app: &App) -> TableId {
    TableId::Local(
        env.stack
            .apps()
            .application_get(app.app.index())
            .unwrap()
            .local_session_table()
            .unwrap(),
    )
}

#[test]
fn drop_rule_is_filtered() {
    let mut env = env_with_tcp();
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let rule = SessionRule::remote(TransportProto::Tcp, IpPrefix::host(lo(80).ip), 80);
    env.stack
        .main()
        .lookup()
        .add_rule(local_table(&env, &client), rule, RuleAction::Drop)
        .unwrap();
    assert_eq!(
        env.stack.connect(client.wrk, lo(80), 0).map(|_| ()),
        Err(SessionError::Filtered)
    );
    env.assert_clean();
}

#[test]
fn local_destination_without_listener_is_no_route() {
    let mut env = env_with_tcp();
    let client = env.attach("client", Scope::LOCAL | Scope::GLOBAL);
    assert_eq!(
        env.stack.connect(client.wrk, lo(81), 0).map(|_| ()),
        Err(SessionError::NoRoute)
    );
}

#[test]
fn local_scope_only_app_cannot_reach_the_global_scope() {
    let mut env = env_with_tcp();
    let client = env.attach("client", Scope::LOCAL);
    assert_eq!(
        env.stack.connect(client.wrk, remote(80), 0).map(|_| ()),
        Err(SessionError::Scope)
    );
}

#[test]
fn nothing_local_falls_through_to_the_real_transport() {
    let mut env = env_with_tcp();
    let client = env.attach("client", Scope::LOCAL | Scope::GLOBAL);
    // ct answers LocalConnect; the app layer then tries the endpoint's own
    // transport, whose error comes back.
    assert_eq!(
        env.stack.connect(client.wrk, remote(80), 0).map(|_| ()),
        Err(SessionError::NoRoute)
    );
    assert_eq!(env.ct.n_half_opens(), 0);
}

#[test]
fn wildcard_listener_of_another_app_in_the_global_scope() {
    let mut env = env_with_tcp();
    let server = env.attach("server", Scope::GLOBAL);
    let client = env.attach("client", Scope::LOCAL | Scope::GLOBAL);
    env.stack.listen(server.wrk, any(8080)).unwrap();
    env.idle();
    drain(&server.q);
    env.stack.connect(client.wrk, remote(8080), 4).unwrap();
    env.idle();
    let sf = accepted(&server.q).expect("global wildcard listener reached through ct");
    env.stack
        .accept_reply(server.wrk, sf.session, Ok(()))
        .unwrap();
    env.idle();
    let cf = connected(&client.q).unwrap().unwrap();
    let w = env.stack.runtime_mut().worker_mut(0).unwrap();
    let line = w.format_session(sf.session, 1).unwrap();
    // The reference shows the server's remote end as 0.0.0.0:0; here it is
    // the client's: the address connected to and an ephemeral port.
    assert!(line.contains("10.0.0.1:8080->10.0.0.1:32768"), "{line}");
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
}

#[test]
fn rule_pointing_at_the_connecting_app_goes_global() {
    let mut env = env_with_tcp();
    let server = env.attach("server", Scope::GLOBAL);
    let client = env.attach("client", Scope::LOCAL | Scope::GLOBAL);
    env.stack.listen(server.wrk, any(8080)).unwrap();
    env.idle();
    let rule = SessionRule::remote(TransportProto::Tcp, IpPrefix::host(remote(8080).ip), 8080);
    env.stack
        .main()
        .lookup()
        .add_rule(
            local_table(&env, &client),
            rule,
            RuleAction::App(client.app.index()),
        )
        .unwrap();
    env.stack.connect(client.wrk, remote(8080), 4).unwrap();
    env.idle();
    assert!(accepted(&server.q).is_some());
}

#[test]
fn own_global_listener_is_a_self_connect() {
    let mut env = env_with_tcp();
    let app = env.attach("both", Scope::LOCAL | Scope::GLOBAL);
    env.stack.listen(app.wrk, any(8080)).unwrap();
    env.idle();
    env.stack.connect(app.wrk, remote(8080), 4).unwrap();
    env.idle();
    assert!(accepted(&app.q).is_some());
}
