//! MemoryStore state: sorted maps and queues, with expiry against the caller's clock.
//!
//! Everything here is already past the fault dice and the budget: these functions are the
//! service's effect, applied atomically at `now`.
//!
//! - **Expiry.** An entry written at `now` with expiration `e` seconds lives while
//!   `now' < now + e × 1000`; with `e = 0` it is gone at once (Suphi unlocks that way).
//!   Expired entries are invisible at once and dropped lazily.
//! - **Sorted-map order:** numeric sort keys, then string sort keys, then items without one;
//!   ties by key. A range bound `{key?, sortKey?}` is a position in that order (a bound without
//!   a sort key sits among the items without one; a bound without a key excludes every item
//!   with its sort key), which is what paging with the last item's `{key, sortKey}` needs.
//! - **Queues:** higher priority first, then the order added. A read hides what it returns for
//!   the invisibility timeout under one read id; removing by that id before the timeout deletes
//!   them, after it does nothing and the items are delivered again (at least once delivery).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::faults::{Rng, Roll};
use super::{
    deserialise, serialise, ErrorKind, MapUpdate, SortKey, StoreError, MAX_EXPIRATION_S,
    MAX_MEMORY_KEY_LEN, MAX_MEMORY_VALUE_LEN, MAX_QUEUE_READ, MAX_RANGE_COUNT,
};
use crate::value::Value;

/// One sorted-map item, as `GetRangeAsync` returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct MapItem {
    pub key: String,
    pub value: Value,
    pub sort_key: Option<SortKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Ascending,
    Descending,
}

/// An exclusive `GetRangeAsync` bound: `{key?, sortKey?}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeBound {
    pub key: Option<String>,
    pub sort_key: Option<SortKey>,
}

/// A queue item as the inspector sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueItemView {
    pub value: Value,
    pub priority: f64,
    pub expires_at_ms: u64,
    /// Readable now (not hidden by a read).
    pub visible: bool,
    /// While hidden: until when, and by which read.
    pub invisible_until_ms: Option<u64>,
    pub read_id: Option<String>,
}

fn invalid_request(text: &str) -> StoreError {
    StoreError::memory(ErrorKind::InvalidRequest, "InvalidRequest", text)
}

/// A value that passed the checks, as it will be stored (read back from its JSON), with its
/// size for the memory quota.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    value: Value,
    size: usize,
}

impl Item {
    pub fn new(value: Value) -> Result<Item, StoreError> {
        if value == Value::Nil {
            return Err(invalid_request("The value can't be nil."));
        }
        let (json, size) = serialise(&value);
        if size > MAX_MEMORY_VALUE_LEN {
            return Err(StoreError::memory(
                ErrorKind::InvalidRequest,
                "ItemValueSizeTooLarge",
                &format!("The value is {size} bytes, over the {MAX_MEMORY_VALUE_LEN} limit."),
            ));
        }
        let value = deserialise(&json)
            .map_err(|why| invalid_request(&format!("The value can't be stored: {why}")))?;
        Ok(Item { value, size })
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(invalid_request("The key can't be empty."));
    }
    if key.len() > MAX_MEMORY_KEY_LEN {
        return Err(invalid_request(&format!(
            "The key exceeds the {MAX_MEMORY_KEY_LEN} character limit."
        )));
    }
    Ok(())
}

pub(crate) fn check_sort_key(sort_key: Option<&SortKey>) -> Result<(), StoreError> {
    match sort_key {
        Some(SortKey::Number(n)) if !n.is_finite() => Err(invalid_request(
            "The sort key must be a finite number or a string.",
        )),
        Some(SortKey::String(s)) if s.len() > MAX_MEMORY_KEY_LEN => Err(invalid_request(&format!(
            "The sort key exceeds the {MAX_MEMORY_KEY_LEN} character limit."
        ))),
        _ => Ok(()),
    }
}

/// Checks an expiration in seconds and gives it in milliseconds.
pub(crate) fn expiration_ms(expiration_s: f64) -> Result<u64, StoreError> {
    if !(0.0..=MAX_EXPIRATION_S).contains(&expiration_s) {
        return Err(StoreError::memory(
            ErrorKind::InvalidRequest,
            "InvalidExpirationTime",
            &format!("The expiration time must be between 0 and {MAX_EXPIRATION_S} seconds."),
        ));
    }
    Ok((expiration_s * 1000.0).round() as u64)
}

pub(crate) fn check_priority(priority: f64) -> Result<(), StoreError> {
    if priority.is_finite() {
        Ok(())
    } else {
        Err(invalid_request("The priority must be a finite number."))
    }
}

/// Checks a queue read's count and invisibility timeout; gives the timeout in milliseconds.
pub(crate) fn check_read(count: usize, invisibility_s: f64) -> Result<u64, StoreError> {
    if !(1..=MAX_QUEUE_READ).contains(&count) {
        return Err(invalid_request(&format!(
            "The count must be between 1 and {MAX_QUEUE_READ}."
        )));
    }
    if !(0.0..=MAX_EXPIRATION_S).contains(&invisibility_s) {
        return Err(invalid_request(&format!(
            "The invisibility timeout must be between 0 and {MAX_EXPIRATION_S} seconds."
        )));
    }
    Ok((invisibility_s * 1000.0).round() as u64)
}

pub(crate) fn check_range(
    count: usize,
    lower: Option<&RangeBound>,
    upper: Option<&RangeBound>,
) -> Result<(), StoreError> {
    if !(1..=MAX_RANGE_COUNT).contains(&count) {
        return Err(invalid_request(&format!(
            "The count must be between 1 and {MAX_RANGE_COUNT}."
        )));
    }
    for bound in [lower, upper].into_iter().flatten() {
        check_sort_key(bound.sort_key.as_ref())?;
        if let Some(key) = &bound.key {
            check_key(key)?;
        }
    }
    Ok(())
}

fn sort_rank(sort_key: Option<&SortKey>) -> u8 {
    match sort_key {
        Some(SortKey::Number(_)) => 0,
        Some(SortKey::String(_)) => 1,
        None => 2,
    }
}

fn cmp_sort_keys(a: Option<&SortKey>, b: Option<&SortKey>) -> Ordering {
    match (a, b) {
        (Some(SortKey::Number(x)), Some(SortKey::Number(y))) => x.total_cmp(y),
        (Some(SortKey::String(x)), Some(SortKey::String(y))) => x.cmp(y),
        _ => sort_rank(a).cmp(&sort_rank(b)),
    }
}

/// Where an item sits relative to a bound; `Equal` means "at the bound" (excluded).
fn cmp_to_bound(
    sort_key: Option<&SortKey>,
    key: &str,
    bound: &RangeBound,
    lower: bool,
) -> Ordering {
    if bound.key.is_none() && bound.sort_key.is_none() {
        // No bound at all: every item is inside.
        return if lower {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    cmp_sort_keys(sort_key, bound.sort_key.as_ref()).then_with(|| match &bound.key {
        Some(bound_key) => key.cmp(bound_key.as_str()),
        None => Ordering::Equal,
    })
}

fn sort_key_size(sort_key: Option<&SortKey>) -> usize {
    match sort_key {
        Some(SortKey::Number(_)) => 8,
        Some(SortKey::String(s)) => s.len(),
        None => 0,
    }
}

#[derive(Clone, Debug)]
struct MapEntry {
    item: Item,
    sort_key: Option<SortKey>,
    expires_at_ms: u64,
}

impl MapEntry {
    fn live(&self, now: u64) -> bool {
        now < self.expires_at_ms
    }

    fn bytes(&self, key: &str) -> usize {
        key.len() + self.item.size + sort_key_size(self.sort_key.as_ref())
    }
}

#[derive(Clone, Debug, Default)]
struct SortedMap {
    entries: BTreeMap<String, MapEntry>,
}

/// A queue position: higher priority first, then the order added.
#[derive(Clone, Copy, Debug)]
struct Position {
    priority: f64,
    seq: u64,
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .total_cmp(&self.priority)
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Position {}

#[derive(Clone, Debug)]
struct QueueEntry {
    item: Item,
    priority: f64,
    expires_at_ms: u64,
    invisible_until_ms: u64,
    read_id: Option<String>,
}

impl QueueEntry {
    fn visible(&self, now: u64) -> bool {
        now >= self.invisible_until_ms
    }
}

#[derive(Clone, Debug)]
struct Read {
    items: Vec<Position>,
    invisible_until_ms: u64,
}

#[derive(Clone, Debug, Default)]
struct Queue {
    items: BTreeMap<Position, QueueEntry>,
    reads: BTreeMap<String, Read>,
    next_seq: u64,
}

impl Queue {
    fn prune(&mut self, now: u64) {
        self.items.retain(|_, e| now < e.expires_at_ms);
        self.reads.retain(|_, r| now < r.invisible_until_ms);
    }
}

/// Every sorted map and queue of the experience.
#[derive(Clone, Debug)]
pub(crate) struct MemoryStores {
    maps: BTreeMap<String, SortedMap>,
    queues: BTreeMap<String, Queue>,
    ids: Rng,
    reads: u64,
}

impl MemoryStores {
    pub fn new(seed: u64) -> MemoryStores {
        MemoryStores {
            maps: BTreeMap::new(),
            queues: BTreeMap::new(),
            ids: Rng::new(seed ^ 0x0051_EAD1_D5EE_D000),
            reads: 0,
        }
    }

    /// Bytes in use at `now`: keys, values and sort keys of live entries, and queued values.
    pub fn memory_bytes(&self, now: u64) -> usize {
        let maps: usize = self
            .maps
            .values()
            .flat_map(|m| m.entries.iter())
            .filter(|(_, e)| e.live(now))
            .map(|(k, e)| e.bytes(k))
            .sum();
        let queues: usize = self
            .queues
            .values()
            .flat_map(|q| q.items.values())
            .filter(|e| now < e.expires_at_ms)
            .map(|e| e.item.size)
            .sum();
        maps + queues
    }

    /// Refuses a write that would grow memory past the quota.
    fn check_memory(
        &self,
        now: u64,
        quota: Option<usize>,
        freed: usize,
        added: usize,
    ) -> Result<(), StoreError> {
        let Some(quota) = quota else {
            return Ok(());
        };
        if added <= freed {
            return Ok(());
        }
        let after = self.memory_bytes(now).saturating_sub(freed) + added;
        if after > quota {
            return Err(StoreError::memory(
                ErrorKind::OverQuota,
                "TotalMemoryOverLimit",
                &format!("The experience's memory quota ({quota} bytes) is used up."),
            ));
        }
        Ok(())
    }

    fn live_entry(&self, now: u64, map: &str, key: &str) -> Option<&MapEntry> {
        self.maps.get(map)?.entries.get(key).filter(|e| e.live(now))
    }

    pub fn map_get(&self, now: u64, map: &str, key: &str) -> Option<(Value, Option<SortKey>)> {
        self.live_entry(now, map, key)
            .map(|e| (e.item.value.clone(), e.sort_key.clone()))
    }

    pub fn map_entry(&self, map: &str, key: &str, now: u64) -> Option<(Value, u64)> {
        self.live_entry(now, map, key)
            .map(|e| (e.item.value.clone(), e.expires_at_ms))
    }

    /// `SetAsync`: `true` when a live entry was overwritten.
    #[allow(clippy::too_many_arguments)] // SetAsync's arguments plus time and quota
    pub fn map_set(
        &mut self,
        now: u64,
        map: &str,
        key: &str,
        item: Item,
        ttl_ms: u64,
        sort_key: Option<SortKey>,
        quota: Option<usize>,
    ) -> Result<bool, StoreError> {
        let old = self.live_entry(now, map, key);
        let overwrote = old.is_some();
        let freed = old.map_or(0, |e| e.bytes(key));
        let entry = MapEntry {
            item,
            sort_key,
            expires_at_ms: now.saturating_add(ttl_ms),
        };
        let live = entry.live(now);
        self.check_memory(now, quota, freed, if live { entry.bytes(key) } else { 0 })?;
        let m = self.maps.entry(map.to_owned()).or_default();
        m.entries.retain(|_, e| e.live(now));
        if live {
            m.entries.insert(key.to_owned(), entry);
        } else {
            m.entries.remove(key);
        }
        if m.entries.is_empty() {
            self.maps.remove(map);
        }
        Ok(overwrote)
    }

    /// `UpdateAsync`; see [`Emulator::map_update`](super::Emulator::map_update).
    #[allow(clippy::too_many_arguments)] // UpdateAsync's arguments plus time, dice and quota
    pub fn map_update(
        &mut self,
        now: u64,
        map: &str,
        key: &str,
        transform: &mut dyn FnMut(Option<&Value>, Option<&SortKey>) -> MapUpdate,
        ttl_ms: u64,
        roll: &Roll,
        quota: Option<usize>,
    ) -> Result<Option<Value>, StoreError> {
        let old = self.map_get(now, map, key);
        let mut run = || {
            transform(
                old.as_ref().map(|(v, _)| v),
                old.as_ref().and_then(|(_, s)| s.as_ref()),
            )
        };
        if roll.rerun {
            let _ = run();
        }
        let Some((value, sort_key)) = run() else {
            return Ok(None);
        };
        if value == Value::Nil {
            return Ok(None);
        }
        if roll.conflict {
            return Err(StoreError::memory(
                ErrorKind::Conflict,
                "UpdateConflict",
                "UpdateAsync gave up after too many retries because of concurrent updates.",
            ));
        }
        check_sort_key(sort_key.as_ref())?;
        let item = Item::new(value)?;
        let stored = item.value.clone();
        self.map_set(now, map, key, item, ttl_ms, sort_key, quota)?;
        Ok(Some(stored))
    }

    pub fn map_remove(&mut self, now: u64, map: &str, key: &str) {
        if let Some(m) = self.maps.get_mut(map) {
            m.entries.remove(key);
            m.entries.retain(|_, e| e.live(now));
            if m.entries.is_empty() {
                self.maps.remove(map);
            }
        }
    }

    pub fn map_range(
        &self,
        now: u64,
        map: &str,
        direction: SortDirection,
        count: usize,
        lower: Option<&RangeBound>,
        upper: Option<&RangeBound>,
    ) -> Vec<MapItem> {
        let Some(m) = self.maps.get(map) else {
            return Vec::new();
        };
        let mut items: Vec<(&String, &MapEntry)> = m
            .entries
            .iter()
            .filter(|(k, e)| {
                let sk = e.sort_key.as_ref();
                e.live(now)
                    && lower.is_none_or(|b| cmp_to_bound(sk, k, b, true) == Ordering::Greater)
                    && upper.is_none_or(|b| cmp_to_bound(sk, k, b, false) == Ordering::Less)
            })
            .collect();
        items.sort_by(|(ka, a), (kb, b)| {
            cmp_sort_keys(a.sort_key.as_ref(), b.sort_key.as_ref()).then_with(|| ka.cmp(kb))
        });
        if direction == SortDirection::Descending {
            items.reverse();
        }
        items
            .into_iter()
            .take(count)
            .map(|(k, e)| MapItem {
                key: k.clone(),
                value: e.item.value.clone(),
                sort_key: e.sort_key.clone(),
            })
            .collect()
    }

    pub fn map_size(&self, now: u64, map: &str) -> usize {
        self.maps
            .get(map)
            .map_or(0, |m| m.entries.values().filter(|e| e.live(now)).count())
    }

    pub fn queue_add(
        &mut self,
        now: u64,
        queue: &str,
        item: Item,
        ttl_ms: u64,
        priority: f64,
        quota: Option<usize>,
    ) -> Result<(), StoreError> {
        if ttl_ms == 0 {
            // Expires as it arrives: accepted, never seen.
            return Ok(());
        }
        self.check_memory(now, quota, 0, item.size)?;
        let q = self.queues.entry(queue.to_owned()).or_default();
        q.prune(now);
        let position = Position {
            // -0 and 0 are one priority.
            priority: if priority == 0.0 { 0.0 } else { priority },
            seq: q.next_seq,
        };
        q.next_seq = q.next_seq.saturating_add(1);
        q.items.insert(
            position,
            QueueEntry {
                item,
                priority: position.priority,
                expires_at_ms: now.saturating_add(ttl_ms),
                invisible_until_ms: 0,
                read_id: None,
            },
        );
        Ok(())
    }

    fn next_read_id(&mut self) -> String {
        self.reads = self.reads.wrapping_add(1);
        let a = self.ids.next_u64();
        let b = self.ids.next_u64();
        // GUID-shaped; the low 48 bits count reads so ids never repeat.
        format!(
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            self.reads & 0xFFFF_FFFF_FFFF
        )
    }

    pub fn queue_read(
        &mut self,
        now: u64,
        queue: &str,
        invisible_ms: u64,
        count: usize,
        all_or_nothing: bool,
    ) -> Option<(Vec<Value>, String)> {
        let q = self.queues.get_mut(queue)?;
        q.prune(now);
        let picked: Vec<Position> = q
            .items
            .iter()
            .filter(|(_, e)| e.visible(now))
            .take(count)
            .map(|(p, _)| *p)
            .collect();
        if picked.is_empty() || (all_or_nothing && picked.len() < count) {
            return None;
        }
        let id = self.next_read_id();
        let q = self.queues.get_mut(queue)?;
        let invisible_until_ms = now.saturating_add(invisible_ms);
        let mut values = Vec::with_capacity(picked.len());
        for position in &picked {
            if let Some(e) = q.items.get_mut(position) {
                e.invisible_until_ms = invisible_until_ms;
                e.read_id = Some(id.clone());
                values.push(e.item.value.clone());
            }
        }
        q.reads.insert(
            id.clone(),
            Read {
                items: picked,
                invisible_until_ms,
            },
        );
        Some((values, id))
    }

    pub fn queue_remove(&mut self, now: u64, queue: &str, read_id: &str) {
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        // Pruning drops reads whose timeout has passed: removing them is then a no-op.
        q.prune(now);
        if let Some(read) = q.reads.remove(read_id) {
            for position in read.items {
                let ours = q
                    .items
                    .get(&position)
                    .is_some_and(|e| e.read_id.as_deref() == Some(read_id) && !e.visible(now));
                if ours {
                    q.items.remove(&position);
                }
            }
        }
        if q.items.is_empty() && q.reads.is_empty() {
            self.queues.remove(queue);
        }
    }

    pub fn queue_size(&self, now: u64, queue: &str, exclude_invisible: bool) -> usize {
        self.queues.get(queue).map_or(0, |q| {
            q.items
                .values()
                .filter(|e| now < e.expires_at_ms && (!exclude_invisible || e.visible(now)))
                .count()
        })
    }

    pub fn queue_items(&self, queue: &str, now: u64) -> Vec<QueueItemView> {
        let Some(q) = self.queues.get(queue) else {
            return Vec::new();
        };
        q.items
            .values()
            .filter(|e| now < e.expires_at_ms)
            .map(|e| {
                let visible = e.visible(now);
                QueueItemView {
                    value: e.item.value.clone(),
                    priority: e.priority,
                    expires_at_ms: e.expires_at_ms,
                    visible,
                    invisible_until_ms: (!visible).then_some(e.invisible_until_ms),
                    read_id: if visible { None } else { e.read_id.clone() },
                }
            })
            .collect()
    }
}
