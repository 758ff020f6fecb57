//! Session rules: connect filters that match on local/remote prefixes and
//! ports and say what to do with a match (VPP `session_rules_table.c`).
//!
//! A rule's action is [`RuleAction::Drop`] (the connect is filtered),
//! [`RuleAction::Allow`] (lookups carry on to the listeners as if no rule had
//! matched) or [`RuleAction::App`] (the connect goes to that app's listener).
//!
//! Matching is longest-prefix: of all rules that match a key, the most
//! specific wins. VPP keeps its rules in a tree of nested masks; here a
//! [`RulesTable`] is a list kept sorted from most to least specific and a
//! lookup is a scan that stops at the first match. Rules change rarely and
//! tables hold few of them, so the scan is cheap; "more specific" is ordered
//! by, in turn: longer remote prefix, longer local prefix, remote port given,
//! local port given. For nested rules (one's match set inside the other's)
//! this is exactly VPP's answer; for overlapping rules that do not nest, VPP's
//! answer depends on its tree's shape and ours on that fixed order. Two
//! different rules that both match a key never tie in that order (equal
//! lengths and port flags over one key make their prefixes and ports equal),
//! so the answer never depends on the order rules were added in.

use std::cmp::Reverse;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::SessionError;
use crate::endpoint::{FibProto, TransportProto};

/// An ip prefix: an address and how many leading bits of it count.
///
/// The address is normalized on construction (host bits cleared), so two
/// prefixes that cover the same addresses compare equal, as VPP normalizes
/// rule prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// The prefix `addr/len`; a length past the family's width (32 or 128)
    /// is [`SessionError::Invalid`].
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, SessionError> {
        let addr = match addr {
            IpAddr::V4(a) if len <= 32 => {
                IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & mask32(len)))
            }
            IpAddr::V6(a) if len <= 128 => {
                IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & mask128(len)))
            }
            _ => return Err(SessionError::Invalid),
        };
        Ok(Self { addr, len })
    }

    /// The prefix that matches every address of `fib_proto` (`0.0.0.0/0` or
    /// `::/0`).
    pub const fn any(fib_proto: FibProto) -> Self {
        Self {
            addr: fib_proto.zero_ip(),
            len: 0,
        }
    }

    /// The prefix that matches `addr` only (`/32` or `/128`).
    pub const fn host(addr: IpAddr) -> Self {
        let len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self { addr, len }
    }

    /// The (normalized) address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is a zero-length prefix (matches its whole family).
    pub const fn is_any(&self) -> bool {
        self.len == 0
    }

    /// The prefix's family.
    pub const fn fib_proto(&self) -> FibProto {
        FibProto::of(&self.addr)
    }

    /// Whether `ip` is inside the prefix; an address of the other family
    /// never is.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => a.to_bits() & mask32(self.len) == p.to_bits(),
            (IpAddr::V6(p), IpAddr::V6(a)) => a.to_bits() & mask128(self.len) == p.to_bits(),
            _ => false,
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// What a matching rule does (VPP's rule `action_index`, whose reserved
/// values become variants instead of magic numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Filter the connect (VPP `SESSION_RULES_TABLE_ACTION_DROP`; lookups
    /// answer with the `SESSION_DROP_HANDLE` role).
    Drop,
    /// Let the connect through: lookups go on to the listeners, as if no
    /// rule had matched (VPP `SESSION_RULES_TABLE_ACTION_ALLOW`).
    Allow,
    /// Send the connect to this app's listener. The value is the app's pool
    /// index, which the app layer resolves (and checks) when it acts on it.
    App(u32),
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Drop => f.write_str("drop"),
            Self::Allow => f.write_str("allow"),
            Self::App(a) => write!(f, "app {a}"),
        }
    }
}

/// What a rule matches: transport protocol, local and remote prefixes and
/// ports, a port of 0 matching every port (VPP
/// `session_rule_table_add_del_args_t` without the action).
///
/// ```
/// use ct_session::{IpPrefix, SessionRule, TransportProto};
///
/// let rule = SessionRule::remote(
///     TransportProto::Tcp,
///     IpPrefix::new("10.0.0.0".parse().unwrap(), 8).unwrap(),
///     80,
/// );
/// assert!(rule.matches(&"0.0.0.0".parse().unwrap(), 0, &"10.1.2.3".parse().unwrap(), 80));
/// assert!(!rule.matches(&"0.0.0.0".parse().unwrap(), 0, &"10.1.2.3".parse().unwrap(), 81));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionRule {
    /// The protocol whose lookups the rule takes part in.
    pub transport_proto: TransportProto,
    /// The local prefix.
    pub lcl: IpPrefix,
    /// The local port, 0 for any.
    pub lcl_port: u16,
    /// The remote prefix.
    pub rmt: IpPrefix,
    /// The remote port, 0 for any.
    pub rmt_port: u16,
}

impl SessionRule {
    /// A rule on the remote side only (any local address and port): the
    /// shape of every rule in an app namespace's local table.
    pub const fn remote(transport_proto: TransportProto, rmt: IpPrefix, rmt_port: u16) -> Self {
        Self {
            transport_proto,
            lcl: IpPrefix::any(rmt.fib_proto()),
            lcl_port: 0,
            rmt,
            rmt_port,
        }
    }

    /// The rule's family (that of its prefixes).
    pub const fn fib_proto(&self) -> FibProto {
        self.rmt.fib_proto()
    }

    /// Checks what VPP checks when a rule is added: TCP or UDP only
    /// (rules key on the protocol the app asked for, never on ct), and both
    /// prefixes of one family. Either failure is [`SessionError::Invalid`].
    pub fn validate(&self) -> Result<(), SessionError> {
        let proto_ok = matches!(
            self.transport_proto,
            TransportProto::Tcp | TransportProto::Udp
        );
        if !proto_ok || self.lcl.fib_proto() != self.rmt.fib_proto() {
            return Err(SessionError::Invalid);
        }
        Ok(())
    }

    /// Whether the rule matches a lookup key (the protocol is the table's
    /// business and is not checked here).
    pub fn matches(&self, lcl: &IpAddr, lcl_port: u16, rmt: &IpAddr, rmt_port: u16) -> bool {
        self.rmt.contains(rmt)
            && self.lcl.contains(lcl)
            && (self.rmt_port == 0 || self.rmt_port == rmt_port)
            && (self.lcl_port == 0 || self.lcl_port == lcl_port)
    }

    /// The sort key of "more specific" (larger is more specific), see the
    /// module docs.
    fn specificity(&self) -> (u8, u8, bool, bool) {
        (
            self.rmt.prefix_len(),
            self.lcl.prefix_len(),
            self.rmt_port != 0,
            self.lcl_port != 0,
        )
    }
}

impl fmt::Display for SessionRule {
    /// VPP's `show session rules` shape: `lcl/len port rmt/len port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} {} {} {}",
            self.transport_proto.short_name(),
            self.lcl,
            self.lcl_port,
            self.rmt,
            self.rmt_port
        )
    }
}

/// The rules of one session table, for all protocols and both families.
#[derive(Debug, Default, Clone)]
pub struct RulesTable {
    /// Kept sorted by decreasing specificity; equal ones in insertion order.
    rules: Vec<(SessionRule, RuleAction)>,
}

impl RulesTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self { rules: Vec::new() }
    }

    /// Adds `rule` with `action`. A rule with the same match replaces the
    /// existing one's action (as VPP updates it), and the replaced action is
    /// returned. An invalid rule is [`SessionError::Invalid`].
    pub fn add(
        &mut self,
        rule: SessionRule,
        action: RuleAction,
    ) -> Result<Option<RuleAction>, SessionError> {
        rule.validate()?;
        if let Some((_, a)) = self.rules.iter_mut().find(|(r, _)| *r == rule) {
            return Ok(Some(std::mem::replace(a, action)));
        }
        // After every rule at least as specific: ties keep insertion order.
        let key = Reverse(rule.specificity());
        let at = self
            .rules
            .partition_point(|(r, _)| Reverse(r.specificity()) <= key);
        self.rules.insert(at, (rule, action));
        Ok(None)
    }

    /// Removes the rule with `rule`'s match, returning its action; no such
    /// rule is [`SessionError::Invalid`].
    pub fn del(&mut self, rule: &SessionRule) -> Result<RuleAction, SessionError> {
        let at = self
            .rules
            .iter()
            .position(|(r, _)| r == rule)
            .ok_or(SessionError::Invalid)?;
        Ok(self.rules.remove(at).1)
    }

    /// The action of the most specific `proto` rule matching the key, if any
    /// (VPP `session_rules_table_lookup4/6`).
    pub fn lookup(
        &self,
        proto: TransportProto,
        lcl: &IpAddr,
        lcl_port: u16,
        rmt: &IpAddr,
        rmt_port: u16,
    ) -> Option<RuleAction> {
        self.rules
            .iter()
            .find(|(r, _)| r.transport_proto == proto && r.matches(lcl, lcl_port, rmt, rmt_port))
            .map(|(_, a)| *a)
    }

    /// How many rules the table holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the table holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = &(SessionRule, RuleAction)> {
        self.rules.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pfx(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(ip(s), len).unwrap()
    }

    const TCP: TransportProto = TransportProto::Tcp;

    fn lookup_rmt(t: &RulesTable, rmt: &str, port: u16) -> Option<RuleAction> {
        let r = ip(rmt);
        let zero = FibProto::of(&r).zero_ip();
        t.lookup(TCP, &zero, 0, &r, port)
    }

    #[test]
    fn prefix_normalizes_and_contains() {
        let p = pfx("10.1.2.3", 8);
        assert_eq!(p.addr(), ip("10.0.0.0"));
        assert_eq!(p, pfx("10.255.0.1", 8));
        assert!(p.contains(&ip("10.200.1.1")));
        assert!(!p.contains(&ip("11.0.0.1")));
        assert!(!p.contains(&ip("::1")));
        assert!(pfx("0.0.0.0", 0).contains(&ip("1.2.3.4")));
        assert!(IpPrefix::host(ip("1.2.3.4")).contains(&ip("1.2.3.4")));
        assert!(!IpPrefix::host(ip("1.2.3.4")).contains(&ip("1.2.3.5")));
        let p6 = pfx("fd00:1:2::5", 32);
        assert_eq!(p6.addr(), ip("fd00:1::"));
        assert!(p6.contains(&ip("fd00:1:ffff::1")));
        assert!(!p6.contains(&ip("fd00:2::1")));
        assert!(IpPrefix::any(FibProto::Ip6).contains(&ip("::1")));
        assert_eq!(IpPrefix::new(ip("1.2.3.4"), 33), Err(SessionError::Invalid));
        assert_eq!(IpPrefix::new(ip("::"), 129), Err(SessionError::Invalid));
        assert_eq!(pfx("10.0.0.0", 8).to_string(), "10.0.0.0/8");
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insertion_order() {
        let wide = SessionRule::remote(TCP, pfx("10.0.0.0", 8), 0);
        let mid = SessionRule::remote(TCP, pfx("10.1.0.0", 16), 0);
        let host = SessionRule::remote(TCP, IpPrefix::host(ip("10.1.2.3")), 0);
        let orders = [[wide, mid, host], [host, mid, wide], [mid, host, wide]];
        for order in orders {
            let mut t = RulesTable::new();
            for r in order {
                let action = match r.rmt.prefix_len() {
                    8 => RuleAction::Drop,
                    16 => RuleAction::App(16),
                    _ => RuleAction::Allow,
                };
                t.add(r, action).unwrap();
            }
            assert_eq!(lookup_rmt(&t, "10.1.2.3", 80), Some(RuleAction::Allow));
            assert_eq!(lookup_rmt(&t, "10.1.9.9", 80), Some(RuleAction::App(16)));
            assert_eq!(lookup_rmt(&t, "10.9.9.9", 80), Some(RuleAction::Drop));
            assert_eq!(lookup_rmt(&t, "11.0.0.1", 80), None);
        }
    }

    #[test]
    fn port_given_beats_any_port_at_equal_prefix() {
        let mut t = RulesTable::new();
        t.add(
            SessionRule::remote(TCP, pfx("10.0.0.0", 8), 0),
            RuleAction::Drop,
        )
        .unwrap();
        t.add(
            SessionRule::remote(TCP, pfx("10.0.0.0", 8), 443),
            RuleAction::App(1),
        )
        .unwrap();
        assert_eq!(lookup_rmt(&t, "10.0.0.1", 443), Some(RuleAction::App(1)));
        assert_eq!(lookup_rmt(&t, "10.0.0.1", 80), Some(RuleAction::Drop));
    }

    #[test]
    fn local_side_and_protocol_and_family_must_match() {
        let mut t = RulesTable::new();
        let rule = SessionRule {
            transport_proto: TCP,
            lcl: pfx("192.168.0.0", 16),
            lcl_port: 5000,
            rmt: pfx("0.0.0.0", 0),
            rmt_port: 0,
        };
        t.add(rule, RuleAction::Drop).unwrap();
        let rmt = ip("8.8.8.8");
        assert_eq!(
            t.lookup(TCP, &ip("192.168.1.1"), 5000, &rmt, 1),
            Some(RuleAction::Drop)
        );
        assert_eq!(t.lookup(TCP, &ip("192.168.1.1"), 5001, &rmt, 1), None);
        assert_eq!(t.lookup(TCP, &ip("10.0.0.1"), 5000, &rmt, 1), None);
        assert_eq!(
            t.lookup(TransportProto::Udp, &ip("192.168.1.1"), 5000, &rmt, 1),
            None
        );
        assert_eq!(t.lookup(TCP, &ip("::"), 5000, &ip("::1"), 1), None);
    }

    #[test]
    fn add_replaces_same_match_and_del_removes() {
        let mut t = RulesTable::new();
        let r = SessionRule::remote(TCP, pfx("fd00::", 16), 0);
        assert_eq!(t.add(r, RuleAction::Drop), Ok(None));
        assert_eq!(t.add(r, RuleAction::App(7)), Ok(Some(RuleAction::Drop)));
        assert_eq!(t.len(), 1);
        assert_eq!(lookup_rmt(&t, "fd00::9", 1), Some(RuleAction::App(7)));
        assert_eq!(t.del(&r), Ok(RuleAction::App(7)));
        assert!(t.is_empty());
        assert_eq!(lookup_rmt(&t, "fd00::9", 1), None);
        assert_eq!(t.del(&r), Err(SessionError::Invalid));
    }

    #[test]
    fn invalid_rules_are_refused() {
        let mut t = RulesTable::new();
        let mixed = SessionRule {
            transport_proto: TCP,
            lcl: pfx("::", 0),
            lcl_port: 0,
            rmt: pfx("10.0.0.0", 8),
            rmt_port: 0,
        };
        assert_eq!(t.add(mixed, RuleAction::Drop), Err(SessionError::Invalid));
        let ct = SessionRule::remote(TransportProto::Ct, pfx("10.0.0.0", 8), 0);
        assert_eq!(t.add(ct, RuleAction::Drop), Err(SessionError::Invalid));
        assert!(t.is_empty());
    }

    /// The sorted insert against a brute-force model: among the rules that
    /// match, the most specific one.
    #[test]
    fn scan_agrees_with_brute_force_model() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            u32::try_from(state % u64::from(n)).unwrap()
        };
        for _round in 0..50 {
            let mut t = RulesTable::new();
            let mut model: Vec<(SessionRule, RuleAction)> = Vec::new();
            for i in 0..40 {
                // Few distinct values so rules overlap, nest and repeat.
                let rmt = IpPrefix::new(
                    IpAddr::V4(Ipv4Addr::new(10, next(3) as u8, next(3) as u8, 1)),
                    [0, 8, 16, 24, 32][next(5) as usize],
                )
                .unwrap();
                let lcl = IpPrefix::new(
                    IpAddr::V4(Ipv4Addr::new(192, 168, 0, next(2) as u8)),
                    [0, 24, 32][next(3) as usize],
                )
                .unwrap();
                let rule = SessionRule {
                    transport_proto: TCP,
                    lcl,
                    lcl_port: [0, 5][next(2) as usize],
                    rmt,
                    rmt_port: [0, 80][next(2) as usize],
                };
                let action = RuleAction::App(i);
                t.add(rule, action).unwrap();
                match model.iter_mut().find(|(r, _)| *r == rule) {
                    Some(entry) => entry.1 = action,
                    None => model.push((rule, action)),
                }
            }
            assert_eq!(t.len(), model.len());
            for _key in 0..100 {
                let rmt = IpAddr::V4(Ipv4Addr::new(10, next(3) as u8, next(3) as u8, 1));
                let lcl = IpAddr::V4(Ipv4Addr::new(192, 168, 0, next(2) as u8));
                let (lp, rp) = ([0, 5, 6][next(3) as usize], [80, 81][next(2) as usize]);
                let mut best: Option<&(SessionRule, RuleAction)> = None;
                for entry in &model {
                    let better = best.is_none_or(|b| entry.0.specificity() > b.0.specificity());
                    if entry.0.matches(&lcl, lp, &rmt, rp) && better {
                        best = Some(entry);
                    }
                }
                assert_eq!(t.lookup(TCP, &lcl, lp, &rmt, rp), best.map(|b| b.1));
            }
        }
    }

    #[test]
    fn display() {
        let r = SessionRule::remote(TCP, pfx("10.0.0.0", 8), 80);
        assert_eq!(r.to_string(), "[T] 0.0.0.0/0 0 10.0.0.0/8 80");
        assert_eq!(RuleAction::App(3).to_string(), "app 3");
    }
}
