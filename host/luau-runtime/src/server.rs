//! One server: a Luau VM with the runtime's globals, running one script.
//!
//! The VM gets the primitives below (scheduling, time, output, lifecycle), those of
//! `services`, `http` and `wasm`, and then the prelude (`prelude.luau`) builds the Roblox-shaped
//! globals from them. `require` is Luau's own require-by-string (mlua's file-system requirer):
//! `require("./x")` loads `x.luau` next to the requiring file, `../` goes up, `.luaurc` aliases
//! work, and each server has its own module cache. Chunks that ask for native code get it
//! (`native.rs`).

use std::path::Path;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, Value as LuaValue};

use crate::args::{prim, ret, Args};
use crate::runtime::{Ctors, Phase, Resume, Runtime, Server};
use crate::scheduler::{secs_to_us, FRAME_US};

const PRELUDE: &str = include_str!("prelude.luau");

/// What every primitive of one server knows: the run and which server it is.
#[derive(Clone)]
pub struct Ctx {
    pub rt: Rc<Runtime>,
    pub server: usize,
}

impl Ctx {
    /// The emulator's `client` id of this server.
    pub fn client(&self) -> u32 {
        self.server as u32 + 1
    }

    pub fn ctors(&self) -> Result<Ctors, String> {
        self.rt.servers.borrow()[self.server]
            .ctors
            .clone()
            .ok_or_else(|| "the runtime prelude has not started".to_owned())
    }

    /// Schedules the calling thread to be resumed with a service's reply after `latency_ms`;
    /// the prelude then yields it. The thread gets `true, results...` or `false, message`.
    pub fn deliver(
        &self,
        lua: &Lua,
        latency_ms: u64,
        result: Result<MultiValue, String>,
    ) -> Result<MultiValue, String> {
        let values = match result {
            Ok(mut values) => {
                values.push_front(LuaValue::Boolean(true));
                values
            }
            Err(message) => {
                let message = lua.create_string(&message).map_err(|e| e.to_string())?;
                MultiValue::from_vec(vec![LuaValue::Boolean(false), LuaValue::String(message)])
            }
        };
        self.rt.resume_after(
            self.server,
            lua.current_thread(),
            latency_ms.saturating_mul(1000),
            Resume::Values(values),
        );
        Ok(MultiValue::new())
    }
}

/// Creates server `index` running `script`, and runs the script until it first yields.
pub fn start(rt: &Rc<Runtime>, index: usize, script: &Path) -> Result<(), String> {
    let source = std::fs::read(script)
        .map_err(|e| format!("error: cannot read {}: {e}", script.display()))?;
    let lua = Lua::new();
    // Native code only for the chunks that ask (native.rs), as on Roblox's servers.
    lua.enable_jit(false);
    let native = rt.options.native;
    let many = rt.options.scripts.len() > 1;
    let job_id = crate::http::guid(&rt.rng, false).to_ascii_lowercase();
    rt.servers.borrow_mut().push(Server {
        lua: lua.clone(),
        label: if many {
            format!("[server {}] ", index + 1)
        } else {
            String::new()
        },
        phase: Phase::Closed,
        close_callbacks: Vec::new(),
        ctors: None,
        tolerate: Vec::new(),
        tolerated: 0,
    });
    let ctx = Ctx {
        rt: rt.clone(),
        server: index,
    };
    let setup = || -> mlua::Result<mlua::Thread> {
        lua.globals().raw_set(
            "require",
            lua.create_require_function(crate::native::Requirer::new(native))?,
        )?;
        let primitives = lua.create_table()?;
        install(&lua, &primitives, &ctx)?;
        crate::services::install(&lua, &primitives, &ctx)?;
        crate::services::install_inspect(&lua, &primitives, &ctx)?;
        crate::http::install(&lua, &primitives, &ctx)?;
        if !rt.options.no_wasm {
            crate::wasm::install(&lua, &primitives, &ctx)?;
        }
        crate::model::install(&lua, &primitives, &ctx)?;
        let info = lua.create_table()?;
        info.set("server", index + 1)?;
        info.set("servers", rt.options.scripts.len())?;
        info.set("script", script.display().to_string())?;
        info.set("virtualTime", rt.options.virtual_time)?;
        info.set("wasm", !rt.options.no_wasm)?;
        info.set("seed", rt.options.seed)?;
        info.set("jobId", job_id)?;
        lua.load(PRELUDE)
            .set_name("=[runtime]")
            .call::<()>((primitives.clone(), info))?;
        crate::model::wrap_require(&lua, &primitives)?;
        // The globals are final: mark them safe, as Roblox's are, so builtins (`buffer.*`,
        // `bit32.*`, `math.*`, …) take Luau's fast path instead of a full call.
        lua.globals().set_safeenv(true);
        native.before_load(&lua, &source);
        let main = lua
            .load(&source[..])
            .set_name(format!("@{}", script.display()))
            .into_function();
        lua.enable_jit(false);
        lua.create_thread(main?)
    };
    let main = setup().map_err(|e| crate::runtime::describe(&e))?;
    rt.servers.borrow_mut()[index].phase = Phase::Running { main: main.clone() };
    rt.resume(index, &main, MultiValue::new());
    Ok(())
}

/// Scheduling, time, output and lifecycle.
fn install(lua: &Lua, rt_table: &Table, ctx: &Ctx) -> mlua::Result<()> {
    let c = ctx.clone();
    rt_table.set(
        "init",
        prim(lua, "init", move |_, args: Args| {
            c.rt.servers.borrow_mut()[c.server].ctors = Some(Ctors {
                key_info: args.function(1)?,
                protect: args.function(2)?,
            });
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "spawn",
        prim(lua, "spawn", move |lua, args: Args| {
            let thread = args.runnable(lua, 1)?;
            if thread.status() != mlua::thread::ThreadStatus::Resumable {
                return Err("cannot resume non-suspended coroutine".into());
            }
            c.rt.resume(c.server, &thread, args.rest(2));
            ret(lua, thread)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "defer",
        prim(lua, "defer", move |lua, args: Args| {
            let thread = args.runnable(lua, 1)?;
            c.rt.defer(c.server, thread.clone(), args.rest(2));
            ret(lua, thread)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "delay",
        prim(lua, "delay", move |lua, args: Args| {
            let delay = secs_to_us(args.opt_number(1, 0.0)?).max(FRAME_US);
            let thread = args.runnable(lua, 2)?;
            c.rt.resume_after(
                c.server,
                thread.clone(),
                delay,
                Resume::Values(args.rest(3)),
            );
            ret(lua, thread)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "wait",
        prim(lua, "wait", move |lua, args: Args| {
            let delay = secs_to_us(args.opt_number(1, 0.0)?).max(FRAME_US);
            let since_us = c.rt.now_us();
            c.rt.resume_after(
                c.server,
                lua.current_thread(),
                delay,
                Resume::Elapsed { since_us },
            );
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "cancel",
        prim(lua, "cancel", move |_, args: Args| {
            c.rt.cancel(&args.thread(1)?);
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "clock",
        prim(lua, "clock", move |lua, _| {
            ret(lua, c.rt.now_us() as f64 / 1e6)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "unix_ms",
        prim(lua, "unix_ms", move |lua, _| {
            ret(lua, c.rt.unix_ms() as f64)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "write",
        prim(lua, "write", move |_, args: Args| {
            let stream = args.string(1)?;
            let text = args.string(2)?;
            let label = c.rt.servers.borrow()[c.server].label.clone();
            if stream == "warn" {
                eprintln!("{label}warn: {text}");
            } else {
                println!("{label}{text}");
            }
            Ok(MultiValue::new())
        })?,
    )?;

    // `runtime.readFile`: test data shared with other languages' tests, and the bench corpus.
    rt_table.set(
        "read_file",
        prim(lua, "runtime.readFile", |lua, args: Args| {
            let path = crate::wasm::resolve(&args.string(1)?, args.opt_string(2)?.as_deref());
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("runtime.readFile: cannot read {}: {e}", path.display()))?;
            ret(lua, lua.create_string(bytes).map_err(|e| e.to_string())?)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "bind_to_close",
        prim(lua, "BindToClose", move |_, args: Args| {
            let callback = args.function(1)?;
            c.rt.servers.borrow_mut()[c.server]
                .close_callbacks
                .push(callback);
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "shutdown",
        prim(lua, "shutdown", move |_, _| {
            // Deferred, so the caller carries on until it yields, as after a signal.
            let rt = c.rt.clone();
            let server = c.server;
            let lua = rt.servers.borrow()[server].lua.clone();
            let starter = lua
                .create_function(move |_, ()| {
                    rt.begin_shutdown(server);
                    Ok(())
                })
                .and_then(|f| lua.create_thread(f))
                .map_err(|e| e.to_string())?;
            c.rt.defer(c.server, starter, MultiValue::new());
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "set_faults",
        prim(lua, "runtime.setFaults", move |_, args: Args| {
            c.rt.set_faults(&args.string(1)?)
                .map_err(|e| format!("runtime.setFaults: {e}"))?;
            Ok(MultiValue::new())
        })?,
    )?;

    // The players in this server changed (`runtime.join`, `runtime.leave`): budgets scale with
    // them, on top of `--players`.
    let c = ctx.clone();
    rt_table.set(
        "set_players",
        prim(lua, "runtime.join", move |_, args: Args| {
            let joined = args.number(1)? as u32;
            let players = c.rt.options.players.saturating_add(joined);
            c.rt.emulator.borrow_mut().set_players(c.client(), players);
            Ok(MultiValue::new())
        })?,
    )?;

    // `runtime.tolerateErrors(text)`: a test whose handlers raise errors on purpose (Roblox prints
    // an error in a spawned thread and carries on) says which, and counts them.
    let c = ctx.clone();
    rt_table.set(
        "tolerate_errors",
        prim(lua, "runtime.tolerateErrors", move |_, args: Args| {
            let text = args.string(1)?;
            if text.is_empty() {
                return Err("runtime.tolerateErrors: the text must not be empty".into());
            }
            c.rt.servers.borrow_mut()[c.server].tolerate.push(text);
            Ok(MultiValue::new())
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "tolerated_errors",
        prim(lua, "runtime.toleratedErrors", move |lua, _| {
            ret(lua, c.rt.servers.borrow()[c.server].tolerated)
        })?,
    )?;

    let c = ctx.clone();
    rt_table.set(
        "crash",
        prim(lua, "crash", move |_, _| {
            c.rt.close(c.server);
            Ok(MultiValue::new())
        })?,
    )?;
    Ok(())
}
