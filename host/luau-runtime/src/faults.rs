//! `--faults SPEC`: the emulator's fault injection from one command-line string.
//!
//! A spec is a comma-separated list of `[scope.]name=value`, applied left to right (a later
//! item overrides an earlier one for the kinds it covers):
//!
//! | name | value | meaning |
//! |---|---|---|
//! | `error` | probability | transient failure (`502` / `InternalError`), nothing applied |
//! | `ambiguous` | probability | write applied, yet reported as a transient failure |
//! | `throttle` | probability | refused as throttled, nothing applied |
//! | `rerun` | probability | an `UpdateAsync` transform runs one extra time first |
//! | `conflict` | probability | a sorted-map `UpdateAsync` gives up with `UpdateConflict` |
//! | `latency` | `ms` or `lo..hi` | reply latency, uniform in the range |
//! | `spike` | `p:ms` | with probability `p`, `ms` more latency |
//! | `outage` | `from..to` | seconds since the run started: every request fails |
//! | `hang` | probability | the request is made, but its reply never comes (the hostile store, `hostile.rs`) |
//! | `garbage` | probability | a successful reply has a value of the wrong type (the hostile store) |
//!
//! The first eight are the emulator's ([`FaultConfig`]); `hang` and `garbage` are the
//! runtime's own ([`HostileConfig`]), since they happen to the reply on its way to the script.
//!
//! A scope limits an item to some request kinds: `data` (DataStore), `memory` (MemoryStore),
//! `map` (sorted map), `queue`, or one kind by name (`DataSet`, `MapUpdate`, `QueueRead`…, case
//! and `_` ignored). Without one, an item covers every kind.
//!
//! Example: `error=0.05,latency=20..120,data.ambiguous=0.02,outage=60..90,DataSet.hang=0.01`.

use datastore_module::emulator::{FaultConfig, Op, Outage};

use crate::hostile::HostileConfig;

/// What a spec asks for: the emulator's faults and the hostile store's.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub store: FaultConfig,
    pub hostile: HostileConfig,
}

/// Parses a spec. `epoch_ms` is the Unix time (ms) at which the run started, for outages.
pub fn parse(spec: &str, epoch_ms: u64) -> Result<Faults, String> {
    let mut config = FaultConfig::none();
    let mut hostile = HostileConfig::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (lhs, value) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}`: expected name=value"))?;
        let (scope, name) = match lhs.rsplit_once('.') {
            Some((scope, name)) => (Some(scope.trim()), name.trim()),
            None => (None, lhs.trim()),
        };
        let ops = match scope {
            None => Op::ALL.to_vec(),
            Some(scope) => ops_of(scope).ok_or_else(|| format!("`{item}`: unknown scope `{scope}` (data, memory, map, queue, or a kind such as DataSet)"))?,
        };
        let value = value.trim();
        let bad = |why: &str| format!("`{item}`: {why}");
        match name {
            "error" | "transient" | "ambiguous" | "throttle" | "rerun" | "conflict" => {
                let p = probability(value).map_err(|e| bad(&e))?;
                for op in &ops {
                    let f = config.get_mut(*op);
                    match name {
                        "error" | "transient" => f.transient = p,
                        "ambiguous" => f.ambiguous = p,
                        "throttle" => f.throttle = p,
                        "rerun" => f.rerun = p,
                        _ => f.conflict = p,
                    }
                }
            }
            "hang" | "garbage" => {
                let p = probability(value).map_err(|e| bad(&e))?;
                for op in &ops {
                    let odds = hostile.get_mut(*op);
                    if name == "hang" {
                        odds.hang = p;
                    } else {
                        odds.garbage = p;
                    }
                }
            }
            "latency" => {
                let (lo, hi) = match value.split_once("..") {
                    Some((lo, hi)) => (millis(lo), millis(hi)),
                    None => (millis(value), millis(value)),
                };
                let (lo, hi) = (lo.map_err(|e| bad(&e))?, hi.map_err(|e| bad(&e))?);
                if lo > hi {
                    return Err(bad("the range is empty"));
                }
                for op in &ops {
                    config.get_mut(*op).latency_ms = (lo, hi);
                }
            }
            "spike" => {
                let (p, ms) = value
                    .split_once(':')
                    .ok_or_else(|| bad("expected probability:ms, e.g. 0.01:2000"))?;
                let (p, ms) = (
                    probability(p).map_err(|e| bad(&e))?,
                    millis(ms).map_err(|e| bad(&e))?,
                );
                for op in &ops {
                    let f = config.get_mut(*op);
                    f.spike = p;
                    f.spike_ms = ms;
                }
            }
            "outage" => {
                let (from, to) = value
                    .split_once("..")
                    .ok_or_else(|| bad("expected from..to in seconds, e.g. 60..90"))?;
                let (from, to) = (
                    seconds(from).map_err(|e| bad(&e))?,
                    seconds(to).map_err(|e| bad(&e))?,
                );
                if from >= to {
                    return Err(bad("the window is empty"));
                }
                config.outages.push(Outage {
                    ops: ops.clone(),
                    start_ms: epoch_ms + (from * 1000.0) as u64,
                    end_ms: epoch_ms + (to * 1000.0) as u64,
                });
            }
            _ => return Err(bad(&format!("unknown fault `{name}` (error, ambiguous, throttle, rerun, conflict, latency, spike, outage, hang, garbage)"))),
        }
    }
    Ok(Faults {
        store: config,
        hostile,
    })
}

fn ops_of(scope: &str) -> Option<Vec<Op>> {
    let scope = scope.to_ascii_lowercase().replace('_', "");
    match scope.as_str() {
        "all" => Some(Op::ALL.to_vec()),
        "data" | "datastore" => Some(Op::DATA.to_vec()),
        "memory" | "memorystore" => Some(Op::MEMORY.to_vec()),
        "map" | "sortedmap" => Some(
            Op::MEMORY
                .iter()
                .copied()
                .filter(|op| format!("{op:?}").starts_with("Map"))
                .collect(),
        ),
        "queue" => Some(
            Op::MEMORY
                .iter()
                .copied()
                .filter(|op| format!("{op:?}").starts_with("Queue"))
                .collect(),
        ),
        _ => Op::ALL
            .iter()
            .find(|op| format!("{op:?}").to_ascii_lowercase() == scope)
            .map(|op| vec![*op]),
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a probability between 0 and 1")),
    }
}

fn millis(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("`{text}` is not a whole number of milliseconds"))
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_apply_left_to_right_within_their_scope() {
        let c = parse(
            "error=0.1, data.error=0.5, latency=50..200, DataSet.ambiguous=1",
            0,
        )
        .unwrap()
        .store;
        assert_eq!(c.get(Op::DataGet).transient, 0.5);
        assert_eq!(c.get(Op::MapGet).transient, 0.1);
        assert_eq!(c.get(Op::QueueRead).latency_ms, (50, 200));
        assert_eq!(c.get(Op::DataSet).ambiguous, 1.0);
        assert_eq!(c.get(Op::DataUpdate).ambiguous, 0.0);
    }

    #[test]
    fn spikes_outages_and_scopes() {
        let c = parse("queue.spike=0.25:1500,map.outage=10..20.5", 1_000)
            .unwrap()
            .store;
        assert_eq!(c.get(Op::QueueAdd).spike, 0.25);
        assert_eq!(c.get(Op::QueueAdd).spike_ms, 1500);
        assert_eq!(c.get(Op::MapGet).spike, 0.0);
        assert_eq!(c.outages.len(), 1);
        assert_eq!(c.outages[0].start_ms, 11_000);
        assert_eq!(c.outages[0].end_ms, 21_500);
        assert!(c.outages[0].ops.contains(&Op::MapUpdate));
        assert!(!c.outages[0].ops.contains(&Op::QueueAdd));
        assert_eq!(
            parse("map_update.latency=7", 0)
                .unwrap()
                .store
                .get(Op::MapUpdate)
                .latency_ms,
            (7, 7)
        );
    }

    #[test]
    fn hang_and_garbage_are_the_hostile_stores_with_scopes() {
        let f = parse(
            "hang=0.01, DataSet.hang=0.5, queue.garbage=0.2, error=0.1",
            0,
        )
        .unwrap();
        assert_eq!(f.hostile.get(Op::DataGet).hang, 0.01);
        assert_eq!(f.hostile.get(Op::DataSet).hang, 0.5);
        assert_eq!(f.hostile.get(Op::QueueRead).garbage, 0.2);
        assert_eq!(f.hostile.get(Op::MapUpdate).garbage, 0.0);
        assert_eq!(f.store.get(Op::DataSet).transient, 0.1);
        assert_eq!(
            f.store.get(Op::DataSet).ambiguous,
            0.0,
            "hang leaves the emulator's faults alone"
        );
        assert!(parse("garbage=1.5", 0).unwrap_err().contains("probability"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("error=2", 0).unwrap_err().contains("probability"));
        assert!(parse("boom=1", 0).unwrap_err().contains("unknown fault"));
        assert!(parse("disk.error=0.1", 0)
            .unwrap_err()
            .contains("unknown scope"));
        assert!(parse("latency=9..3", 0).unwrap_err().contains("empty"));
        assert!(parse("error", 0).unwrap_err().contains("name=value"));
    }
}
