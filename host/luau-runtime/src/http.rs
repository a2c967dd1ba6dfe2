//! HttpService's offline part: `JSONEncode` (the core's model of Roblox's encoder, the one
//! `Usage()` counts), `JSONDecode`, and `GenerateGUID` (drawn from the run's seeded generator,
//! so a seeded run makes the same GUIDs every time).

use std::cell::RefCell;

use mlua::{Lua, Table};

use datastore_module::emulator::faults::Rng;
use datastore_module::usage::json_encode;
use datastore_module::value::Value;

use crate::args::{prim, ret, Args};
use crate::convert::{from_lua, to_lua};
use crate::server::Ctx;

/// A version-4 GUID in Roblox's form: upper-case hex, in braces when `wrap`.
pub fn guid(rng: &RefCell<Rng>, wrap: bool) -> String {
    let mut rng = rng.borrow_mut();
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let text = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    if wrap {
        format!("{{{text}}}")
    } else {
        text
    }
}

pub fn install(lua: &Lua, rt: &Table, ctx: &Ctx) -> mlua::Result<()> {
    rt.set(
        "json_encode",
        prim(lua, "JSONEncode", |lua, args: Args| {
            let value = from_lua(args.get(1), "value")
                .map_err(|why| format!("Can't convert to JSON: {why}"))?;
            ret(lua, json_encode(&value))
        })?,
    )?;
    rt.set(
        "json_decode",
        prim(lua, "JSONDecode", |lua, args: Args| {
            let text = args.string(1)?;
            let value = Value::from_json_str(&text, "json")
                .map_err(|why| format!("Can't parse JSON: {why}"))?;
            ret(lua, to_lua(lua, &value).map_err(|e| e.to_string())?)
        })?,
    )?;
    let c = ctx.clone();
    rt.set(
        "guid",
        prim(lua, "GenerateGUID", move |lua, args: Args| {
            ret(lua, guid(&c.rt.rng, args.boolean(1, true)))
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_version_4_in_robloxs_form() {
        let rng = RefCell::new(Rng::new(1));
        let g = guid(&rng, true);
        assert_eq!(g.len(), 38);
        assert!(g.starts_with('{') && g.ends_with('}'));
        assert_eq!(&g[15..16], "4");
        assert!(matches!(&g[20..21], "8" | "9" | "A" | "B"));
        assert!(!g.chars().any(|c| c.is_ascii_lowercase()));
        assert_ne!(guid(&rng, false), guid(&rng, false));
    }
}
