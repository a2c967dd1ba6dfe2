//! `luau-runtime`: runs Roblox server scripts outside Roblox.
//!
//! Each script is a server with its own Luau VM and `game`; all share one DataStore and
//! MemoryStore emulator (the core crate's) and one clock. See README.md beside this crate for
//! the whole environment, `luau/HOST.md` for the wasm host contract.

mod args;
mod convert;
mod faults;
mod hostile;
mod http;
mod model;
mod native;
mod runtime;
mod scheduler;
mod server;
mod services;
mod signals;
mod wasm;

use std::path::PathBuf;
use std::process::ExitCode;

use runtime::{Options, Runtime};

/// `luau-runtime --help`: the commands.
const USAGE: &str = "\
usage: luau-runtime <command> [arguments]

Runs Roblox server scripts outside Roblox, on an emulated DataStoreService and
MemoryStoreService.

commands:
  run <script.luau>...  run each script as a Roblox server
  help [command]        this text, or a command's

options:
  -h, --help            this text (after a command: the command's)
  -V, --version         the version";

/// `luau-runtime help run`, `luau-runtime run --help`.
const RUN_USAGE: &str = "\
usage: luau-runtime run <script.luau>... [options]

Runs each script as a Roblox server (one Luau VM each) sharing one emulated
DataStoreService and MemoryStoreService and one clock.

options:
  --virtual-time     time jumps to the next timer whenever every thread waits
  --seed N           seeds the emulator's faults, GUIDs and host.random_fill; without
                     it every run draws its own seed (runtime.seed tells which)
  --faults SPEC      fault injection, e.g. error=0.05,latency=20..120,data.ambiguous=0.02
                     (names: error ambiguous throttle rerun conflict latency spike outage,
                     and the hostile store's hang garbage; scopes: data. memory. map.
                     queue. or a kind such as DataSet.)
  --servers N        run N servers of the one script given
  --budgets          enforce Roblox's request budgets and MemoryStore quotas
  --players N        players on each server for the budgets (default 0; players who
                     join through runtime.join count as well)
  --stop-after S     shut every server down after S seconds on the clock
  --no-wasm          no `wasm` global, as in Roblox: the module runs its core translated
                     into Luau (luau/DataStoreCore.luau) instead of the wasm
  --native MODE      which chunks run as machine code: marked (default, as Roblox's
                     servers: those with a `--!native` hot comment or `@native` functions),
                     all, or none (the interpreter only, as a VM without code generation)
  --model FILE.rbxm  puts the model's instances in ServerStorage (require takes a
                     ModuleScript, which gets `script`), e.g. the packaged module
  -h, --help         this text

A server shuts down (BindToClose, 30 s at most) when its script's main chunk returns, on
SIGTERM/SIGINT, on runtime.shutdown(), or at --stop-after. Exit status: 0 when every server
closed without an uncaught error, 1 after an uncaught Luau error, 2 for a usage error.";

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    /// Print this text and exit successfully (help and version).
    Print(String),
    Run(Options),
}

fn version() -> String {
    format!(
        "luau-runtime {} (Luau {})",
        env!("CARGO_PKG_VERSION"),
        luau_version()
    )
}

/// The Luau release built in, as the VM reports it (`_VERSION` is "Luau 0.NNN").
fn luau_version() -> String {
    let version: String = mlua::Lua::new()
        .globals()
        .get("_VERSION")
        .unwrap_or_default();
    version.trim_start_matches("Luau").trim().to_owned()
}

/// A command's help, by its name (`help run`).
fn help_of(command: Option<&str>) -> Result<Command, String> {
    match command {
        None => Ok(Command::Print(USAGE.to_owned())),
        Some("run") => Ok(Command::Print(RUN_USAGE.to_owned())),
        Some("help") => Ok(Command::Print(
            "usage: luau-runtime help [command]\n\nPrints the commands, or a command's options."
                .to_owned(),
        )),
        Some(other) => Err(format!("unknown command `{other}`")),
    }
}

fn parse(argv: &[String]) -> Result<Command, String> {
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        Some("run") => parse_run(it.as_slice()),
        Some("help") => help_of(it.next().map(String::as_str)),
        Some("-h" | "--help") | None => help_of(None),
        Some("-V" | "--version") => Ok(Command::Print(version())),
        Some(other) => Err(format!("unknown command `{other}`")),
    }
}

/// `run`'s arguments: scripts and options in any order.
fn parse_run(argv: &[String]) -> Result<Command, String> {
    let mut options = Options::default();
    let mut servers: Option<usize> = None;
    let mut seed: Option<u64> = None;
    let mut it = argv.iter();
    let value = |flag: &str, it: &mut std::slice::Iter<String>| {
        it.next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        let number = |text: String, flag: &str| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: `{text}` is not a whole number"))
        };
        match arg.as_str() {
            "--virtual-time" => options.virtual_time = true,
            "--budgets" => options.budgets = true,
            "--no-wasm" => options.no_wasm = true,
            "--seed" => {
                let n = number(value(arg, &mut it)?, arg)?;
                // Luau numbers are doubles: a larger seed would not read back exactly.
                if n > MAX_SEED {
                    return Err(format!("--seed: {n} is above 2^53 - 1"));
                }
                seed = Some(n);
            }
            "--faults" => options.faults = Some(value(arg, &mut it)?),
            "--model" => options.models.push(PathBuf::from(value(arg, &mut it)?)),
            "--native" => options.native = native::Native::parse(&value(arg, &mut it)?)?,
            "--servers" => servers = Some(number(value(arg, &mut it)?, arg)? as usize),
            "--players" => options.players = number(value(arg, &mut it)?, arg)? as u32,
            "--stop-after" => {
                let text = value(arg, &mut it)?;
                match text.parse::<f64>() {
                    Ok(s) if s.is_finite() && s >= 0.0 => options.stop_after = Some(s),
                    _ => return Err(format!("--stop-after: `{text}` is not a number of seconds")),
                }
            }
            "-h" | "--help" => return help_of(Some("run")),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            script => options.scripts.push(PathBuf::from(script)),
        }
    }
    if options.scripts.is_empty() {
        return Err("no script given".into());
    }
    if let Some(n) = servers {
        if options.scripts.len() != 1 || n == 0 {
            return Err("--servers N takes exactly one script and N >= 1".into());
        }
        options.scripts = vec![options.scripts[0].clone(); n];
    }
    options.seed = seed.unwrap_or_else(random_seed);
    Ok(Command::Run(options))
}

/// The largest seed a script can read back exactly from `runtime.seed`.
const MAX_SEED: u64 = (1 << 53) - 1;

/// A seed from the operating system's randomness (std draws each `RandomState`'s keys from
/// it), so that runs without `--seed` differ: their UniqueIds, GUIDs and fault dice.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id()) & MAX_SEED
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&argv) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            let usage = if argv.first().is_some_and(|c| c == "run") {
                RUN_USAGE
            } else {
                USAGE
            };
            eprintln!("luau-runtime: {message}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    let runtime = match Runtime::new(options) {
        Ok(runtime) => runtime,
        Err(message) => {
            eprintln!("luau-runtime: --faults {message}");
            return ExitCode::from(2);
        }
    };
    signals::install();
    let code = runtime.run();
    // Exit without tearing the VMs down: their closures and the runtime point at each other.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> Options {
        match parse(&args(s)) {
            Ok(Command::Run(options)) => options,
            other => panic!("`{s}` is not a run: {other:?}"),
        }
    }

    fn printed(s: &str) -> String {
        match parse(&args(s)) {
            Ok(Command::Print(text)) => text,
            other => panic!("`{s}` prints nothing: {other:?}"),
        }
    }

    #[test]
    fn flags_and_servers() {
        let o = run("run a.luau --virtual-time --seed 7 --servers 3");
        assert_eq!(o.scripts.len(), 3);
        assert!(o.virtual_time);
        assert_eq!(o.seed, 7);
        let o = run("run a.luau b.luau --faults error=0.1 --budgets --players 4 --stop-after 2.5");
        assert_eq!(
            o.scripts,
            vec![PathBuf::from("a.luau"), PathBuf::from("b.luau")]
        );
        assert_eq!(o.faults.as_deref(), Some("error=0.1"));
        assert!(o.budgets);
        assert_eq!(o.players, 4);
        assert_eq!(o.stop_after, Some(2.5));
    }

    #[test]
    fn without_a_seed_each_run_draws_its_own() {
        let seeds: Vec<u64> = (0..4).map(|_| run("run a.luau").seed).collect();
        assert!(seeds.iter().all(|&s| s <= MAX_SEED));
        assert!(
            seeds.windows(2).any(|w| w[0] != w[1]),
            "four runs, one seed: {seeds:?}"
        );
        assert_eq!(run("run a.luau --seed 0").seed, 0);
        assert_eq!(run(&format!("run a.luau --seed {MAX_SEED}")).seed, MAX_SEED);
    }

    #[test]
    fn help_for_each_command_and_the_version() {
        for s in ["", "-h", "--help", "help"] {
            assert!(printed(s).contains("commands:"), "`{s}`");
        }
        for s in ["help run", "run --help", "run a.luau -h"] {
            let text = printed(s);
            assert!(text.starts_with("usage: luau-runtime run"), "`{s}`");
            assert!(text.contains("--virtual-time") && text.contains("--seed N"));
        }
        assert!(printed("help help").contains("luau-runtime help [command]"));
        for s in ["-V", "--version"] {
            let text = printed(s);
            assert!(
                text.starts_with(&format!(
                    "luau-runtime {} (Luau 0.",
                    env!("CARGO_PKG_VERSION")
                )),
                "{text}"
            );
        }
        assert!(parse(&args("help go"))
            .unwrap_err()
            .contains("unknown command"));
    }

    #[test]
    fn mistakes() {
        let err = |s: &str| parse(&args(s)).unwrap_err();
        assert!(err("run").contains("no script"));
        assert!(parse(&args("run a b --servers 2")).is_err());
        assert!(err("run a --seed x").contains("whole number"));
        assert!(err("run a --seed 9007199254740992").contains("2^53"));
        assert!(err("run a --seed").contains("needs a value"));
        assert!(err("run a --stop-after -1").contains("number of seconds"));
        assert!(err("go a").contains("unknown command"));
        assert!(err("run a --what").contains("unknown option"));
    }
}
