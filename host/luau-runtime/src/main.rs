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
mod runtime;
mod scheduler;
mod server;
mod services;
mod signals;
mod wasm;

use std::path::PathBuf;
use std::process::ExitCode;

use runtime::{Options, Runtime};

const USAGE: &str = "\
usage: luau-runtime run <script.luau>... [options]

Runs each script as a Roblox server (one Luau VM each) sharing one emulated
DataStoreService and MemoryStoreService and one clock.

options:
  --virtual-time     time jumps to the next timer whenever every thread waits
  --seed N           seeds the emulator's faults, GUIDs and host.random_fill (default 0)
  --faults SPEC      fault injection, e.g. error=0.05,latency=20..120,data.ambiguous=0.02
                     (names: error ambiguous throttle rerun conflict latency spike outage,
                     and the hostile store's hang garbage; scopes: data. memory. map.
                     queue. or a kind such as DataSet.)
  --servers N        run N servers of the one script given
  --budgets          enforce Roblox's request budgets and MemoryStore quotas
  --players N        players on each server (scales budgets; default 0)
  --stop-after S     shut every server down after S seconds on the clock

A server shuts down (BindToClose, 30 s at most) when its script's main chunk returns, on
SIGTERM/SIGINT, on runtime.shutdown(), or at --stop-after. Exit status: 0 when every server
closed without an uncaught error, 1 after an uncaught Luau error, 2 for a usage error.";

fn parse(argv: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut servers: Option<usize> = None;
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        Some("run") => {}
        Some("-h" | "--help" | "help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`")),
    }
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
            "--seed" => options.seed = number(value(arg, &mut it)?, arg)?,
            "--faults" => options.faults = Some(value(arg, &mut it)?),
            "--servers" => servers = Some(number(value(arg, &mut it)?, arg)? as usize),
            "--players" => options.players = number(value(arg, &mut it)?, arg)? as u32,
            "--stop-after" => {
                let text = value(arg, &mut it)?;
                match text.parse::<f64>() {
                    Ok(s) if s.is_finite() && s >= 0.0 => options.stop_after = Some(s),
                    _ => return Err(format!("--stop-after: `{text}` is not a number of seconds")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
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
    Ok(options)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&argv) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("luau-runtime: {message}\n\n{USAGE}");
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

    #[test]
    fn flags_and_servers() {
        let o = parse(&args("run a.luau --virtual-time --seed 7 --servers 3")).unwrap();
        assert_eq!(o.scripts.len(), 3);
        assert!(o.virtual_time);
        assert_eq!(o.seed, 7);
        let o = parse(&args("run a.luau b.luau --faults error=0.1")).unwrap();
        assert_eq!(
            o.scripts,
            vec![PathBuf::from("a.luau"), PathBuf::from("b.luau")]
        );
        assert_eq!(o.faults.as_deref(), Some("error=0.1"));
    }

    #[test]
    fn mistakes() {
        assert!(parse(&args("run")).unwrap_err().contains("no script"));
        assert!(parse(&args("run a b --servers 2")).is_err());
        assert!(parse(&args("run a --seed x"))
            .unwrap_err()
            .contains("whole number"));
        assert!(parse(&args("go a"))
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse(&args("run a --what"))
            .unwrap_err()
            .contains("unknown option"));
    }
}
