//! DataStoreModule: session-locked player data, a re-creation of Suphi's DataStore Module.
//!
//! The crate is the whole product's logic, with no I/O of its own:
//!
//! - [`value`]: the Luau value model every other piece works on;
//! - [`codec`]: the original's compression text format (`Metadata.Compress`);
//! - [`usage`]: `Usage()`'s character count, as Roblox's `JSONEncode` would produce;
//! - [`template`]: reconcile and deep clone;
//! - [`session`]: the original's whole protocol as a sans-IO state machine (`Module`, `Session`);
//! - [`emulator`]: Roblox's DataStore and MemoryStore in memory, with faults and fencing.
//!
//! Hosts reach it through one of two bindings, each behind a feature: `js` (wasm-bindgen, the
//! npm package in `pkg/`; `js-emulator` adds the emulator class behind its `MemoryStore`) and
//! `cabi` (plain C-ABI exports exchanging JSON, for Luau and any other wasm host). Neither
//! binding decides anything; they convert and forward.

pub mod codec;
pub mod emulator;
pub mod fence;
pub mod rng;
pub mod session;
pub mod sim;
pub mod template;
pub mod usage;
pub mod value;
pub mod wire;

#[cfg(feature = "cabi")]
pub mod cabi;
#[cfg(feature = "js")]
pub mod js;
