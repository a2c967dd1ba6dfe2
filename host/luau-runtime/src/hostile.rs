//! The hostile store: `--faults hang=p` and `garbage=p`, faults of the reply on its way to the
//! script, which the emulator (whose faults are about the request) cannot make.
//!
//! - **hang**: the request takes effect, or fails, as the emulator decides, but its reply never
//!   comes: the calling thread stays suspended for good, like a Roblox request whose
//!   connection stalls. Only a deadline of the caller's own gets it out of there.
//! - **garbage**: a successful reply comes back with a value of the wrong type: a number
//!   where the key info, a version, a read id or a value list goes, a table instead of a
//!   string, key info whose fields have the wrong types. A `MapUpdate`'s garbage is what its
//!   transform is given as the entry's current value, since that is what a script reads there.
//!
//! Which shape a garbage reply takes cycles through the kind's shapes ([`garbage`] numbers
//! them), so a run with `garbage=1` meets every one in turn; whether a reply is garbage at all
//! is the seeded dice's.

use datastore_module::emulator::faults::Rng;
use datastore_module::emulator::Op;

/// The odds of one request kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Odds {
    pub hang: f64,
    pub garbage: f64,
}

/// The hostile odds of every request kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostileConfig {
    per_op: [Odds; Op::COUNT],
}

fn index(op: Op) -> usize {
    Op::ALL.iter().position(|o| *o == op).unwrap_or(0)
}

impl HostileConfig {
    pub fn get(&self, op: Op) -> Odds {
        self.per_op[index(op)]
    }

    pub fn get_mut(&mut self, op: Op) -> &mut Odds {
        &mut self.per_op[index(op)]
    }
}

/// How often each hostile fault happened to one request kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub hangs: u64,
    pub garbage: u64,
}

/// The dice and the counters: one per run, shared by every server.
pub struct Hostile {
    config: HostileConfig,
    rng: Rng,
    counts: [Counts; Op::COUNT],
}

impl Hostile {
    pub fn new(config: HostileConfig, seed: u64) -> Hostile {
        Hostile {
            config,
            rng: Rng::new(seed ^ 0x686F_7374_696C_6521),
            counts: [Counts::default(); Op::COUNT],
        }
    }

    /// New odds from now on (`runtime.setFaults`); counters and dice carry on.
    pub fn set_config(&mut self, config: HostileConfig) {
        self.config = config;
    }

    fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.next_f64() < p
    }

    /// Whether this reply of `op` never comes.
    pub fn hang(&mut self, op: Op) -> bool {
        let hang = self.roll(self.config.get(op).hang);
        if hang {
            self.counts[index(op)].hangs += 1;
        }
        hang
    }

    /// Whether this successful reply of `op` is garbage, and then which of its shapes (counting
    /// up per kind, for [`garbage`] to take modulo its number of shapes).
    pub fn garbage(&mut self, op: Op) -> Option<u64> {
        if !self.roll(self.config.get(op).garbage) {
            return None;
        }
        let counts = &mut self.counts[index(op)];
        counts.garbage += 1;
        Some(counts.garbage - 1)
    }

    pub fn counts(&self, op: Op) -> Counts {
        self.counts[index(op)]
    }

    pub fn total(&self) -> Counts {
        self.counts.iter().fold(Counts::default(), |sum, c| Counts {
            hangs: sum.hangs + c.hangs,
            garbage: sum.garbage + c.garbage,
        })
    }
}

/// The shapes a garbage reply of each kind takes, in the order they come round.
pub fn garbage(op: Op) -> &'static [Shape] {
    match op {
        Op::DataGet | Op::DataUpdate | Op::DataRemove => &[
            Shape::KeyInfoNumber,
            Shape::VersionNumber,
            Shape::UserIdsString,
            Shape::CreatedTimeString,
            Shape::ValueWithoutKeyInfo,
        ],
        Op::DataSet | Op::MapUpdate => &[Shape::Number, Shape::Table],
        Op::MapGet => &[Shape::SortKeyTable],
        Op::MapSet | Op::MapGetSize | Op::QueueGetSize => &[Shape::String],
        Op::MapRemove | Op::MapGetRange | Op::QueueAdd | Op::QueueRemove => &[Shape::Number],
        Op::QueueRead => &[
            Shape::ReadIdNumber,
            Shape::ReadIdTable,
            Shape::ValuesNumber,
            Shape::ValuesString,
        ],
    }
}

/// The shape of variant `n` of a garbage reply of `op`.
pub fn shape(op: Op, n: u64) -> Shape {
    let shapes = garbage(op);
    shapes[(n % shapes.len() as u64) as usize]
}

/// What is wrong with a garbage reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The whole reply (or a `MapUpdate` transform's current value) is a number.
    Number,
    /// The whole reply (or a `MapUpdate` transform's current value) is a table.
    Table,
    /// The whole reply is a string.
    String,
    /// `DataStoreKeyInfo` is a number.
    KeyInfoNumber,
    /// `DataStoreKeyInfo.Version` is a number.
    VersionNumber,
    /// `GetUserIds()` gives a string and `GetMetadata()` a number.
    UserIdsString,
    /// `DataStoreKeyInfo.CreatedTime` is a string.
    CreatedTimeString,
    /// A value comes without its `DataStoreKeyInfo` (a number when there was no value).
    ValueWithoutKeyInfo,
    /// A sorted map's sort key is a table.
    SortKeyTable,
    /// `ReadAsync`'s read id is a number.
    ReadIdNumber,
    /// `ReadAsync`'s read id is a table.
    ReadIdTable,
    /// `ReadAsync`'s values are a number.
    ValuesNumber,
    /// `ReadAsync`'s values are a string.
    ValuesString,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(op: Op, odds: Odds) -> HostileConfig {
        let mut c = HostileConfig::default();
        *c.get_mut(op) = odds;
        c
    }

    #[test]
    fn dice_follow_the_odds_of_each_kind_and_are_counted() {
        let mut h = Hostile::new(
            config(
                Op::DataSet,
                Odds {
                    hang: 0.25,
                    garbage: 1.0,
                },
            ),
            7,
        );
        let hangs = (0..4000).filter(|_| h.hang(Op::DataSet)).count() as u64;
        assert!(
            (800..1200).contains(&hangs),
            "{hangs} hangs in 4000 at 0.25"
        );
        assert!(!h.hang(Op::DataGet), "other kinds never hang");
        assert_eq!(h.garbage(Op::DataSet), Some(0));
        assert_eq!(h.garbage(Op::DataSet), Some(1));
        assert_eq!(h.garbage(Op::QueueRead), None);
        assert_eq!(h.counts(Op::DataSet), Counts { hangs, garbage: 2 });
        assert_eq!(h.total(), h.counts(Op::DataSet));
    }

    #[test]
    fn the_same_seed_rolls_the_same_dice() {
        let roll = |seed| {
            let odds = Odds {
                hang: 0.5,
                garbage: 0.5,
            };
            let mut h = Hostile::new(config(Op::QueueRead, odds), seed);
            (0..64)
                .map(|_| (h.hang(Op::QueueRead), h.garbage(Op::QueueRead).is_some()))
                .collect::<Vec<_>>()
        };
        assert_eq!(roll(3), roll(3));
        assert_ne!(roll(3), roll(4));
    }

    #[test]
    fn garbage_cycles_through_every_shape_of_a_kind() {
        let shapes: Vec<Shape> = (0..6).map(|n| shape(Op::DataGet, n)).collect();
        assert_eq!(shapes[0], Shape::KeyInfoNumber);
        assert_eq!(shapes[4], Shape::ValueWithoutKeyInfo);
        assert_eq!(shapes[5], Shape::KeyInfoNumber);
        for op in Op::ALL {
            assert!(!garbage(op).is_empty(), "{op:?} has a garbage shape");
        }
    }
}
