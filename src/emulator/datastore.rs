//! DataStore state: keys with their versions, and each server's 4 s read cache.
//!
//! Everything here is already past the fault dice and the budget: these functions are the
//! service's effect, applied atomically at `now`.
//!
//! - **Versions.** Every write (set, update, remove) makes a version with a new id. Only the
//!   first write to a key in each UTC hour is kept as a backup; later writes in that hour
//!   replace it (Roblox: "successive writes in the same UTC hour permanently overwrite the
//!   previous data"). A version expires 30 days after a newer one superseded it; the latest
//!   never does, except that a removed key (latest version a tombstone) is deleted for good 30
//!   days after its removal.
//! - **Version ids** look like Roblox's (`08DBB6A47FDE6132.0000000016.08DBB782CEE11766.01`:
//!   object creation time in .NET ticks, a write counter, this write's time in ticks). They are
//!   opaque to callers but compare increasing for successive writes of a key.
//! - **Read cache**, per server and DataStore object (name, scope): a backend read or any write
//!   from that server caches the result for [`READ_CACHE_MS`]; `GetAsync` with `UseCache` is
//!   then served from it, stale or not.

use std::collections::BTreeMap;

use super::{
    deserialise, serialise, stored_value, ErrorKind, KeyInfo, StoreError, StoredEntry,
    MAX_DATA_NAME_LEN, MAX_DATA_VALUE_LEN, MAX_METADATA_KEY_LEN, MAX_METADATA_LEN,
    MAX_METADATA_VALUE_LEN, MAX_USER_IDS, READ_CACHE_MS,
};
use crate::value::{JsonText, Key, Table, Value};

const HOUR_MS: u64 = 3_600_000;
const THIRTY_DAYS_MS: u64 = 30 * 24 * HOUR_MS;
/// .NET ticks (100 ns since 0001-01-01) at the Unix epoch.
const TICKS_AT_UNIX_EPOCH: u64 = 621_355_968_000_000_000;

/// (name, scope, key).
type KeyId = (String, String, String);

fn key_id(name: &str, scope: &str, key: &str) -> KeyId {
    (name.to_owned(), scope.to_owned(), key.to_owned())
}

/// One stored version of a key, as `ListVersionsAsync` / `GetVersionAsync` would show it.
#[derive(Clone, Debug, PartialEq)]
pub struct DataVersion {
    pub version: String,
    pub created_ms: u64,
    /// When this version was written.
    pub updated_ms: u64,
    /// A tombstone written by `RemoveAsync`.
    pub deleted: bool,
    /// `None` for a tombstone.
    pub value: Option<Value>,
    pub user_ids: Vec<f64>,
    pub metadata: Table,
}

/// A version keeps its value as the JSON text the write stored, not as a [`Value`] tree: a
/// tree takes 10–24 times the text's bytes, and MemoryStore (the JS test and browser store) keeps
/// up to 30 days of hourly versions of every key in wasm memory. Reads parse it again, as
/// Roblox's `GetAsync` decodes what was stored.
#[derive(Clone, Debug)]
struct StoredVersion {
    info: KeyInfo,
    /// `None` for a tombstone.
    value: Option<JsonText>,
    /// When a newer version replaced this one as the latest.
    superseded_ms: Option<u64>,
}

impl StoredVersion {
    fn entry(&self) -> Option<StoredEntry> {
        self.value.clone().map(|v| (v, self.info.clone()))
    }
}

#[derive(Clone, Debug, Default)]
struct Record {
    /// Oldest first; the last one is the latest.
    versions: Vec<StoredVersion>,
}

impl Record {
    fn latest(&self) -> Option<&StoredVersion> {
        self.versions.last()
    }

    /// Whether the key was removed 30 days ago or more, and so is gone for good.
    fn purged(&self, now: u64) -> bool {
        self.latest().is_some_and(|v| {
            v.value.is_none() && now >= v.info.updated_ms.saturating_add(THIRTY_DAYS_MS)
        })
    }

    /// Whether a version is still kept at `now` (see the module docs for the 30-day rules).
    fn keeps(version: &StoredVersion, now: u64) -> bool {
        version
            .superseded_ms
            .is_none_or(|at| now < at.saturating_add(THIRTY_DAYS_MS))
    }

    fn kept(&self, now: u64) -> impl Iterator<Item = &StoredVersion> {
        let purged = self.purged(now);
        self.versions
            .iter()
            .filter(move |v| !purged && Record::keeps(v, now))
    }

    fn prune(&mut self, now: u64) {
        if self.purged(now) {
            self.versions.clear();
        } else {
            self.versions.retain(|v| Record::keeps(v, now));
        }
    }
}

#[derive(Clone, Debug)]
struct Cached {
    at_ms: u64,
    entry: Option<StoredEntry>,
}

/// A write that passed the argument checks: the value as it will be stored (its JSON text, and
/// the value read back from it), user ids and metadata.
#[derive(Clone, Debug)]
pub(crate) struct Write {
    pub value: Value,
    json: JsonText,
    user_ids: Vec<f64>,
    metadata: Table,
}

impl Write {
    /// Checks a value, user ids and metadata as `SetAsync` does (codes 103–105, 511–513).
    pub fn new(value: Value, user_ids: Vec<f64>, metadata: Table) -> Result<Write, StoreError> {
        if value == Value::Nil {
            return Err(StoreError::invalid("Argument 2 missing or nil".to_owned()));
        }
        let (json, len) = serialise(&value);
        if len > MAX_DATA_VALUE_LEN {
            return Err(StoreError::data(
                ErrorKind::InvalidRequest,
                105,
                &format!("Serialized value exceeds {MAX_DATA_VALUE_LEN} limit."),
            ));
        }
        let value = deserialise(&json).map_err(|why| {
            StoreError::data(
                ErrorKind::InvalidRequest,
                104,
                &format!("Can't store {} in DataStore. ({why})", value.type_name()),
            )
        })?;
        let metadata = check_attributes(&user_ids, metadata)?;
        Ok(Write {
            value,
            json: JsonText::canonical(&json),
            user_ids,
            metadata,
        })
    }
}

/// Roblox's rules for a write's user ids and metadata (a table): the code and text `SetAsync`
/// refuses them with, if it does (the JS stores' copy: `checkAttributes` in
/// `host/js/stores/common.js`).
fn attributes_refusal(user_ids: &[f64], metadata: &Value) -> Option<(u32, &'static str)> {
    if user_ids.len() > MAX_USER_IDS {
        return Some((512, "UserID size exceeds 4 limit."));
    }
    if user_ids
        .iter()
        .any(|id| !id.is_finite() || id.fract() != 0.0)
    {
        return Some((513, "Attribute userId format is invalid."));
    }
    let Value::Table(table) = metadata else {
        return Some((513, "Attribute metadata format is invalid."));
    };
    for (k, v) in table {
        let Key::String(k) = k else {
            return Some((513, "Attribute metadata format is invalid."));
        };
        if k.len() > MAX_METADATA_KEY_LEN {
            return Some((511, "Metadata attribute size exceeds 50 limit."));
        }
        if serialise(v).1 > MAX_METADATA_VALUE_LEN {
            return Some((511, "Metadata attribute size exceeds 250 limit."));
        }
    }
    if serialise(metadata).1 > MAX_METADATA_LEN {
        return Some((511, "Metadata attribute size exceeds 300 limit."));
    }
    None
}

fn check_attributes(user_ids: &[f64], metadata: Table) -> Result<Table, StoreError> {
    let metadata = Value::Table(metadata);
    if let Some((code, text)) = attributes_refusal(user_ids, &metadata) {
        return Err(StoreError::data(ErrorKind::InvalidRequest, code, text));
    }
    match deserialise(&serialise(&metadata).0) {
        Ok(Value::Table(t)) => Ok(t),
        Ok(Value::Array(a)) if a.is_empty() => Ok(Table::new()),
        _ => Err(StoreError::data(
            ErrorKind::InvalidRequest,
            513,
            "Attribute metadata format is invalid.",
        )),
    }
}

/// The argument checks on name, scope and key (101, 102, and `GetDataStore`'s own).
pub(crate) fn check_names(name: &str, scope: &str, key: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::invalid("DataStore name can't be empty.".into()));
    }
    if name.len() > MAX_DATA_NAME_LEN {
        return Err(StoreError::invalid(format!(
            "DataStore name exceeds the {MAX_DATA_NAME_LEN} character limit."
        )));
    }
    if scope.len() > MAX_DATA_NAME_LEN {
        return Err(StoreError::invalid(format!(
            "DataStore scope exceeds the {MAX_DATA_NAME_LEN} character limit."
        )));
    }
    if key.is_empty() {
        return Err(StoreError::data(
            ErrorKind::InvalidRequest,
            101,
            "Key name can't be empty.",
        ));
    }
    if key.len() > MAX_DATA_NAME_LEN {
        return Err(StoreError::data(
            ErrorKind::InvalidRequest,
            102,
            &format!("Key name exceeds the {MAX_DATA_NAME_LEN} character limit."),
        ));
    }
    Ok(())
}

fn ticks(ms: u64) -> u64 {
    TICKS_AT_UNIX_EPOCH.saturating_add(ms.saturating_mul(10_000))
}

/// Every data store key, and every server's read cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct DataStores {
    keys: BTreeMap<KeyId, Record>,
    caches: BTreeMap<(u32, KeyId), Cached>,
    /// The cache size at which stale entries are next swept (see `remember`).
    sweep_at: usize,
    writes: u64,
}

/// The smallest cache that is ever swept.
const SWEEP_MIN: usize = 4096;

impl DataStores {
    /// The latest live value, straight from the backend (no cache, no side effects).
    pub fn latest(&self, name: &str, scope: &str, key: &str) -> Option<StoredEntry> {
        self.keys.get(&key_id(name, scope, key))?.latest()?.entry()
    }

    /// A cache hit for `client`: `Some(result)` when it read or wrote the key less than 4 s ago.
    pub fn cached(
        &self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
    ) -> Option<Option<StoredEntry>> {
        let cached = self.caches.get(&(client, key_id(name, scope, key)))?;
        (now < cached.at_ms.saturating_add(READ_CACHE_MS)).then(|| cached.entry.clone())
    }

    fn remember(&mut self, now: u64, client: u32, id: KeyId, entry: Option<StoredEntry>) {
        // Drop stale entries now and then so long runs do not pile them up. The next sweep waits
        // until the cache has doubled past what survived, so with many live entries each
        // remember still costs O(1) amortised, not a sweep of them all.
        if self.caches.len() >= self.sweep_at.max(SWEEP_MIN) {
            self.caches
                .retain(|_, c| now < c.at_ms.saturating_add(READ_CACHE_MS));
            self.sweep_at = self.caches.len().saturating_mul(2);
        }
        self.caches
            .insert((client, id), Cached { at_ms: now, entry });
    }

    /// A backend read by `client`; refreshes its cache.
    pub fn read(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
    ) -> Option<StoredEntry> {
        // A purged record's latest version is a tombstone, so `latest` already says `None`.
        let entry = self.latest(name, scope, key);
        let id = key_id(name, scope, key);
        self.remember(now, client, id, entry.clone());
        entry
    }

    /// Writes a version (a tombstone when `value` is `None`) and returns its key info.
    fn put(
        &mut self,
        now: u64,
        id: &KeyId,
        value: Option<JsonText>,
        user_ids: Vec<f64>,
        metadata: Table,
    ) -> KeyInfo {
        self.writes = self.writes.saturating_add(1);
        let record = self.keys.entry(id.clone()).or_default();
        record.prune(now);
        let created_ms = match record.latest() {
            Some(v) if v.value.is_some() => v.info.created_ms,
            _ => now,
        };
        let info = KeyInfo {
            created_ms,
            updated_ms: now,
            version: format!(
                "{:016X}.{:010}.{:016X}.01",
                ticks(created_ms),
                self.writes,
                ticks(now)
            ),
            user_ids,
            metadata,
        };
        let version = StoredVersion {
            info: info.clone(),
            value,
            superseded_ms: None,
        };
        match record.versions.last_mut() {
            // The hourly backup rule: a second write in the same UTC hour replaces the first.
            Some(last) if last.info.updated_ms / HOUR_MS == now / HOUR_MS => *last = version,
            Some(last) => {
                last.superseded_ms = Some(now);
                record.versions.push(version);
            }
            None => record.versions.push(version),
        }
        info
    }

    /// `SetAsync` / the write half of `UpdateAsync` by `client`; refreshes its cache.
    pub fn write(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        write: Write,
    ) -> KeyInfo {
        let id = key_id(name, scope, key);
        let info = self.put(
            now,
            &id,
            Some(write.json.clone()),
            write.user_ids,
            write.metadata,
        );
        self.remember(now, client, id, Some((write.json, info.clone())));
        info
    }

    /// `RemoveAsync` by `client`: a tombstone, unless the key is already missing or removed.
    pub fn remove(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
    ) -> Option<StoredEntry> {
        let id = key_id(name, scope, key);
        let old = self.latest(name, scope, key);
        if old.is_some() {
            self.put(now, &id, None, Vec::new(), Table::new());
        }
        self.remember(now, client, id, None);
        old
    }

    pub fn versions(&self, name: &str, scope: &str, key: &str, now: u64) -> Vec<DataVersion> {
        let Some(record) = self.keys.get(&key_id(name, scope, key)) else {
            return Vec::new();
        };
        record
            .kept(now)
            .map(|v| DataVersion {
                version: v.info.version.clone(),
                created_ms: v.info.created_ms,
                updated_ms: v.info.updated_ms,
                deleted: v.value.is_none(),
                value: v.value.as_ref().map(stored_value),
                user_ids: v.info.user_ids.clone(),
                metadata: v.info.metadata.clone(),
            })
            .collect()
    }

    pub fn keys(&self, name: &str, scope: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|((n, s, _), r)| {
                n == name && s == scope && r.latest().is_some_and(|v| v.value.is_some())
            })
            .map(|((_, _, k), _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(stores: &mut DataStores, now: u64, keys: std::ops::Range<usize>) -> usize {
        let mut sweeps = 0;
        for k in keys {
            let before = stores.sweep_at;
            stores.remember(now, 1, key_id("P", "global", &k.to_string()), None);
            sweeps += usize::from(stores.sweep_at != before);
        }
        sweeps
    }

    #[test]
    fn live_cache_entries_are_not_swept_on_every_read() {
        let mut stores = DataStores::default();
        // 100k entries, all fresh: a sweep keeps them all, so sweeps must get rarer (the old
        // rule swept all of them on every read past 4096).
        let sweeps = fill(&mut stores, 0, 0..100_000);
        assert_eq!(stores.caches.len(), 100_000);
        assert!(sweeps <= 6, "{sweeps} sweeps for 100k live entries");
    }

    #[test]
    fn stale_cache_entries_are_dropped() {
        let mut stores = DataStores::default();
        fill(&mut stores, 0, 0..10_000);
        // Later, every old entry is stale: the cache stays bounded by the live ones.
        fill(&mut stores, READ_CACHE_MS, 10_000..40_000);
        assert!(
            stores.caches.len() <= 30_000,
            "{} entries",
            stores.caches.len()
        );
        assert!(
            stores.caches.values().all(|c| c.at_ms == READ_CACHE_MS),
            "stale ones left"
        );
    }
}
