//! What an echo run does: mode, sizes, counts.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What the client measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EchoMode {
    /// Bulk transfer: every session streams its bytes as fast as the fifos
    /// take them.
    Throughput,
    /// Connect, accept, close as fast as possible (connects per second).
    Cps,
    /// Request/response: one request of `request_size` bytes in flight per
    /// session, echoed back; latency per round trip.
    Rr,
}

impl fmt::Display for EchoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EchoMode::Throughput => "throughput",
            EchoMode::Cps => "cps",
            EchoMode::Rr => "rr",
        })
    }
}

impl FromStr for EchoMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "throughput" => Ok(EchoMode::Throughput),
            "cps" => Ok(EchoMode::Cps),
            "rr" => Ok(EchoMode::Rr),
            _ => Err(format!(
                "unknown mode `{s}` (expected throughput, cps or rr)"
            )),
        }
    }
}

/// How the stack runs during an echo run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Stepped on the calling thread (deterministic; for tests).
    Stepping,
    /// Workers on their own threads (programs).
    Threaded,
}

/// One echo run: a server app, a client app, N sessions over ct.
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Workers besides main.
    pub workers: u32,
    /// Throughput / rr: sessions open together. Cps: connects in total.
    pub sessions: u32,
    /// Cps: connects in flight at once.
    pub concurrency: u32,
    /// Throughput: bytes each session sends. Rr: the rounds are
    /// `bytes / request_size`. Cps: bytes sent before closing (usually 0).
    pub bytes: u64,
    /// Rr: request size.
    pub request_size: u32,
    /// Server fifo sizes (ct sessions use the server's fifos both ways).
    pub fifo_size: u32,
    /// App segment size and the smallest segment ct adds.
    pub segment_size: usize,
    /// What is measured.
    pub mode: EchoMode,
    /// The server writes back what it reads; else it discards (and counts).
    pub echo: bool,
    /// Checksums compared at the end of every session.
    pub verify: bool,
    /// Keep the sessions open once their data is done, until the driver
    /// closes them (to look at them: `show session`). Not in cps mode,
    /// whose client opens the next session when one closes.
    pub hold_open: bool,
    /// Largest piece the client hands to one write.
    pub write_size: usize,
    /// Stepping or threaded.
    pub run: RunMode,
    /// Give up after this long (threaded).
    pub timeout: Duration,
    /// Listen port.
    pub port: u16,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            workers: 1,
            sessions: 1,
            concurrency: 16,
            bytes: 1 << 30,
            request_size: 1,
            fifo_size: 4 << 20,
            segment_size: 128 << 20,
            mode: EchoMode::Throughput,
            echo: false,
            verify: true,
            hold_open: false,
            write_size: 64 << 10,
            run: RunMode::Threaded,
            timeout: Duration::from_secs(600),
            port: 1234,
        }
    }
}

impl EchoConfig {
    /// Small defaults for tests: stepping, 64 KiB fifos, 4 MiB segments.
    pub fn small(mode: EchoMode) -> Self {
        EchoConfig {
            workers: 0,
            bytes: match mode {
                EchoMode::Cps => 0,
                _ => 1 << 20,
            },
            request_size: 64,
            fifo_size: 64 << 10,
            segment_size: 4 << 20,
            mode,
            echo: mode == EchoMode::Rr,
            run: RunMode::Stepping,
            timeout: Duration::from_secs(60),
            ..EchoConfig::default()
        }
    }

    /// Round trips per session in rr mode.
    pub fn rounds(&self) -> u64 {
        self.bytes / u64::from(self.request_size.max(1))
    }

    /// Bytes each session sends: rr rounds whole requests.
    pub fn bytes_per_session(&self) -> u64 {
        match self.mode {
            EchoMode::Rr => self.rounds() * u64::from(self.request_size.max(1)),
            _ => self.bytes,
        }
    }

    /// Whether the server echoes (rr always does).
    pub fn server_echoes(&self) -> bool {
        self.echo || self.mode == EchoMode::Rr
    }

    /// Sessions open at once.
    pub fn window(&self) -> u32 {
        match self.mode {
            EchoMode::Cps => self.concurrency.clamp(1, self.sessions.max(1)),
            _ => self.sessions,
        }
    }

    /// Checks the combination; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.sessions == 0 {
            return Err("--sessions must be at least 1".into());
        }
        if self.fifo_size < 4096 {
            return Err("--fifo-size must be at least 4k".into());
        }
        if (self.segment_size as u64) < 2 * u64::from(self.fifo_size) + (64 << 10) {
            return Err(format!(
                "--segment-size {} cannot hold one fifo pair of {} bytes",
                self.segment_size, self.fifo_size
            ));
        }
        if self.mode == EchoMode::Rr {
            if self.request_size == 0 || self.request_size > self.fifo_size {
                return Err("--request-size must be between 1 and the fifo size".into());
            }
            if self.rounds() == 0 {
                return Err("rr mode: --bytes must hold at least one request".into());
            }
        }
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be at least 1 second".into());
        }
        if self.write_size == 0 {
            return Err("write size must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses a size: a number with an optional k, m, g or t suffix (powers of
/// 1024), e.g. `64m`, `1g`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 4096, 64k, 16m, 1g)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999t").is_err());
    }

    #[test]
    fn modes_parse_and_validate() {
        assert_eq!("rr".parse::<EchoMode>(), Ok(EchoMode::Rr));
        assert!("nope".parse::<EchoMode>().is_err());
        assert!(EchoConfig::default().validate().is_ok());
        let mut c = EchoConfig::small(EchoMode::Rr);
        assert!(c.validate().is_ok());
        c.request_size = 0;
        assert!(c.validate().is_err());
        let mut c = EchoConfig::small(EchoMode::Throughput);
        c.segment_size = 1 << 16;
        assert!(c.validate().is_err());
        c = EchoConfig::small(EchoMode::Cps);
        c.sessions = 0;
        assert!(c.validate().is_err());
    }
}
