//! The trace: what happened to each key, kept short and cheap (formatted only when a violation
//! is reported), and a digest of everything, for the reproducibility check.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};

/// `h:mm:ss.mmm` of virtual time.
pub(crate) fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// One thing that happened to a key. Sessions are named by their global number (`s17`), servers
/// by their emulator client id (`srv3`), commands by their number on that server.
#[derive(Clone, Debug, Hash)]
pub(crate) enum Tr {
    /// A method call and its answer.
    Call {
        s: u32,
        call: &'static str,
    },
    Answer {
        s: u32,
        call: &'static str,
        reply: String,
    },
    /// A command leaves the server; `detail` names the value tag or the lock owner.
    Send {
        cmd: u64,
        what: &'static str,
        detail: Detail,
        land_at: u64,
    },
    /// The command reaches the store; `after` is what the store holds afterwards.
    Apply {
        cmd: u64,
        what: &'static str,
        result: Res,
        after: After,
    },
    /// The reply reaches the server; `taken` is false when the core had given up on it (or the
    /// server is gone).
    Reply {
        cmd: u64,
        result: Res,
        taken: bool,
    },
    /// A signal or value event; `v` is the value tag it concerns.
    Event {
        s: u32,
        what: &'static str,
        v: Option<u64>,
    },
    /// A signal with a count (`AttemptsChanged(3)`, `ProcessQueue(2 items)`).
    Count {
        s: u32,
        what: &'static str,
        n: i64,
    },
    Edit {
        s: u32,
        from: u64,
        to: u64,
    },
    Server {
        text: &'static str,
    },
    Note {
        text: String,
    },
}

/// What the store holds after a command, when that helps to read the trace.
#[derive(Clone, Copy, Debug, Hash)]
pub(crate) enum After {
    Nothing,
    /// A data write: the value tag stored.
    Value(Option<u64>),
    /// A lock command: the holder (`None`: unknown session) and when the entry expires, if
    /// held.
    Lock(Option<(Option<u32>, u64)>),
}

#[derive(Clone, Debug, Hash)]
pub(crate) enum Detail {
    None,
    /// A data write: the value tag and the session that sent it, if known.
    Write {
        v: Option<u64>,
        by: Option<u32>,
    },
    Owner(u32),
    Gift(u64),
}

/// A store result, short.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Res {
    /// A load: the value tag read (`None`: no value), and whether the cache served it.
    Got(Option<u64>, bool),
    Written,
    Done,
    Acquired,
    /// Someone else holds the lock (their session number, if known).
    Locked(Option<u32>),
    /// A refresh found its entry gone (D22).
    Lapsed,
    Read(usize),
    ReadEmpty,
    Error(&'static str),
}

impl fmt::Display for Res {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Res::Got(Some(v), cached) => {
                write!(
                    f,
                    "v{v}{}",
                    if *cached {
                        " (from the read cache)"
                    } else {
                        ""
                    }
                )
            }
            Res::Got(None, cached) => {
                write!(
                    f,
                    "nil{}",
                    if *cached {
                        " (from the read cache)"
                    } else {
                        ""
                    }
                )
            }
            Res::Written => f.write_str("written"),
            Res::Done => f.write_str("done"),
            Res::Acquired => f.write_str("acquired"),
            Res::Locked(Some(s)) => write!(f, "locked by s{s}"),
            Res::Locked(None) => f.write_str("locked by another"),
            Res::Lapsed => f.write_str("lapsed (the entry is gone)"),
            Res::Read(n) => write!(f, "{n} items"),
            Res::ReadEmpty => f.write_str("nothing"),
            Res::Error(kind) => write!(f, "error ({kind})"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub at: u64,
    pub server: u32,
    pub what: Tr,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} srv{} ", clock(self.at), self.server)?;
        match &self.what {
            Tr::Call { s, call } => write!(f, "s{s} {call}()"),
            Tr::Answer { s, call, reply } => write!(f, "s{s} {call}() -> {reply}"),
            Tr::Send {
                cmd,
                what,
                detail,
                land_at,
            } => {
                write!(f, "send #{cmd} {what}")?;
                match detail {
                    Detail::None => {}
                    Detail::Write { v, by } => {
                        if let Some(v) = v {
                            write!(f, " v{v}")?;
                        }
                        if let Some(s) = by {
                            write!(f, " by s{s}")?;
                        }
                    }
                    Detail::Owner(s) => write!(f, " owner s{s}")?,
                    Detail::Gift(g) => write!(f, " gift{g}")?,
                }
                write!(f, " (lands {})", clock(*land_at))
            }
            Tr::Apply {
                cmd,
                what,
                result,
                after,
            } => {
                write!(f, "store applies #{cmd} {what}: {result}")?;
                match after {
                    After::Nothing => Ok(()),
                    After::Value(Some(v)) => write!(f, "; store holds v{v}"),
                    After::Value(None) => write!(f, "; store holds nothing"),
                    After::Lock(Some((Some(s), until))) => {
                        write!(f, "; lock held by s{s} until {}", clock(*until))
                    }
                    After::Lock(Some((None, until))) => {
                        write!(f, "; lock held by another until {}", clock(*until))
                    }
                    After::Lock(None) => write!(f, "; lock free"),
                }
            }
            Tr::Reply { cmd, result, taken } => {
                let note = if *taken { "" } else { " (ignored: too late)" };
                write!(f, "reply #{cmd}: {result}{note}")
            }
            Tr::Event { s, what, v } => match v {
                Some(v) => write!(f, "s{s} {what} v{v}"),
                None => write!(f, "s{s} {what}"),
            },
            Tr::Count { s, what, n } => write!(f, "s{s} {what}({n})"),
            Tr::Edit { s, from, to } => write!(f, "s{s} edits v{from} -> v{to}"),
            Tr::Server { text } => write!(f, "{text}"),
            Tr::Note { text } => write!(f, "{text}"),
        }
    }
}

/// The last `cap` entries of one key.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    entries: VecDeque<Entry>,
}

impl Ring {
    pub fn push(&mut self, cap: usize, entry: Entry) {
        if self.entries.len() == cap {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn lines(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.to_string()).collect()
    }
}

/// FNV-1a, 64 bit: a stable hash (std's `DefaultHasher` may change between releases).
#[derive(Clone, Debug)]
pub(crate) struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xCBF2_9CE4_8422_2325)
    }
}

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01B3);
        }
    }
}

impl Digest {
    pub fn add(&mut self, entry: &Entry) {
        entry.at.hash(self);
        entry.server.hash(self);
        entry.what.hash(self);
    }
}
