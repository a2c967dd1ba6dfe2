//! How fast the translated core runs the codec on a plain Luau VM, with and without Luau's
//! "safe environment" (which lets builtins such as `buffer.readu8` and `bit32.band` take the
//! VM's fast path; Roblox runs scripts that way, and so does `luau-runtime`):
//!
//! cargo run --release -p wasm2luau --example codec_speed -- luau/DataStoreCore.luau FILE.json
//!
//! With `SAMPLE=1` in the environment it also samples where the safe run spends its time (at
//! Luau's interrupts: calls and loop back-edges) and prints the busiest translated functions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use mlua::{Function, Lua, Table};

const DRIVER: &str = r#"
local core, json, rounds = ...
local function call(export, a, b)
	local aPtr = core:call("alloc", #a)
	core:write(aPtr, a)
	local bPtr = core:call("alloc", #b)
	core:write(bPtr, b)
	local reply = core:call(export, aPtr, #a, bPtr, #b)
	core:call("free", aPtr, #a)
	core:call("free", bPtr, #b)
	local status, len = string.unpack("<I4I4", core:read(reply, 8))
	local body = core:read(reply + 8, len)
	core:call("reply_free", reply)
	assert(status == 0, body)
	return body
end
local text = call("codec_compress", json, "")
local t = os.clock()
for _ = 1, rounds do
	call("codec_compress", json, "")
end
local compress = (os.clock() - t) * 1000 / rounds
t = os.clock()
for _ = 1, rounds do
	call("codec_decompress", text, "")
end
return compress, (os.clock() - t) * 1000 / rounds
"#;

fn main() -> mlua::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [core, corpus] = &args[..] else {
        eprintln!("usage: codec_speed <DataStoreCore.luau> <file.json>");
        std::process::exit(2);
    };
    let source = std::fs::read_to_string(core).expect("read the translated core");
    let json = std::fs::read_to_string(corpus).expect("read the corpus file");
    for safe in [false, true] {
        let lua = Lua::new();
        if safe {
            lua.sandbox(true)?;
        }
        let started = Instant::now();
        let exports: Table = lua.load(&source).set_name("=DataStoreCore").eval()?;
        // Its parts, beside it: DataStoreCore1.luau, …
        let parts = lua.create_table()?;
        for k in 1..=exports.get::<usize>("parts")? {
            let path = core.replace(".luau", &format!("{k}.luau"));
            let part = std::fs::read_to_string(&path).expect("read a part of the core");
            parts.push(
                lua.load(part)
                    .set_name(format!("=DataStoreCore{k}"))
                    .eval::<Function>()?,
            )?;
        }
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        let imports: Table = lua
            .load("{ host = { random_fill = function() end, log = function() end } }")
            .eval()?;
        let instance: Table = exports
            .get::<Function>("instantiate")?
            .call((imports, parts))?;
        let driver = lua.load(DRIVER).into_function()?;
        let samples: Rc<RefCell<HashMap<usize, usize>>> = Rc::default();
        if safe && std::env::var_os("SAMPLE").is_some() {
            let (samples, tick) = (samples.clone(), RefCell::new(0u32));
            lua.set_interrupt(move |lua| {
                *tick.borrow_mut() += 1;
                if *tick.borrow() % 50 == 0 {
                    if let Some(Some(line)) = lua.inspect_stack(0, |d| d.current_line()) {
                        *samples.borrow_mut().entry(line).or_default() += 1;
                    }
                }
                Ok(mlua::VmState::Continue)
            });
        }
        let (compress, decompress): (f64, f64) = driver.call((instance, json.as_str(), 5))?;
        println!(
            "{}: load {load_ms:.0} ms, compress {compress:.1} ms, decompress {decompress:.1} ms ({} bytes of JSON)",
            if safe { "safe environment" } else { "plain environment" },
            json.len()
        );
        report(&source, &samples.borrow());
    }
    Ok(())
}

/// The sampled lines summed per translated function (`F[n] = function` starts each).
fn report(source: &str, samples: &HashMap<usize, usize>) {
    if samples.is_empty() {
        return;
    }
    let starts: Vec<(usize, &str)> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("F[") && l.contains("] = function"))
        .map(|(i, l)| (i + 1, l.split(']').next().unwrap_or(l)))
        .collect();
    let mut by_function: HashMap<&str, usize> = HashMap::new();
    for (&line, &n) in samples {
        let i = starts.partition_point(|&(start, _)| start <= line);
        let name = if i == 0 { "(other)" } else { starts[i - 1].1 };
        *by_function.entry(name).or_default() += n;
    }
    let total: usize = samples.values().sum();
    let mut rows: Vec<_> = by_function.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    for (name, n) in rows.iter().take(12) {
        println!("  {:5.1}% {name}]", *n as f64 * 100.0 / total as f64);
    }
    let mut lines: Vec<_> = samples.iter().collect();
    lines.sort_by_key(|line| std::cmp::Reverse(*line.1));
    for (line, n) in lines.iter().take(12) {
        let text = source.lines().nth(**line - 1).unwrap_or_default();
        println!(
            "  {:5.1}% line {line}: {text}",
            **n as f64 * 100.0 / total as f64
        );
    }
}
