//! Runs the Luau test scripts (`tests/luau/**.luau` at the repository root) with the built
//! `luau-runtime`, with `--virtual-time` unless a script asks for real time and `--seed 0` unless
//! it gives its own (a run without a seed draws one), one Rust test per script.
//!
//! A script passes when the runtime exits with the expected code (0 unless it says otherwise)
//! and, for a passing run, prints one `ok <name>: <n> checks` line per server (the Luau helper
//! `tests/luau/lib/check.luau` prints it, and refuses to when nothing was checked). Header
//! comments adjust a run:
//!
//! - `-- test-args: …` more command-line arguments (`--servers 2`, `--faults …`);
//! - `-- test-exit: N` the expected exit code;
//! - `-- test-oks: N` how many `ok` lines (one per server);
//! - `-- test-stdout: text` / `-- test-stderr: text` text that must appear;
//! - `-- test-stdout-lacks: text` text that must not;
//! - `-- test-real-time` runs on the real clock;
//! - `-- test-sigterm-after: text` sends SIGTERM once `text` is on stdout.
//!
//! Every script runs twice, the second time with `--no-wasm` (module `no_wasm`) and the packaged
//! module (`--model`, default.project.json as a .rbxm): the Luau module then runs as inside
//! Roblox (issue 13), a ModuleScript on its core translated into Luau, with the same results.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall-clock limit per script: virtual time makes every script quick, so a hang is a bug.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Default)]
struct Expect {
    args: Vec<String>,
    exit: i32,
    oks: usize,
    stdout: Vec<String>,
    stdout_lacks: Vec<String>,
    stderr: Vec<String>,
    real_time: bool,
    sigterm_after: Option<String>,
}

fn directives(text: &str) -> Expect {
    let mut e = Expect {
        oks: 1,
        ..Expect::default()
    };
    for line in text.lines().take_while(|l| l.starts_with("--")) {
        let line = line.trim_start_matches("-- ");
        if line == "test-real-time" {
            e.real_time = true;
        }
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        let value = value.to_owned();
        match name {
            "test-args" => e.args = value.split_whitespace().map(String::from).collect(),
            "test-exit" => e.exit = value.parse().expect("test-exit takes a number"),
            "test-oks" => e.oks = value.parse().expect("test-oks takes a number"),
            "test-stdout" => e.stdout.push(value),
            "test-stdout-lacks" => e.stdout_lacks.push(value),
            "test-stderr" => e.stderr.push(value),
            "test-sigterm-after" => e.sigterm_after = Some(value),
            _ => {}
        }
    }
    e
}

fn run(script: &str) {
    let text = std::fs::read_to_string(root().join(script)).expect("read the script");
    run_with(script, directives(&text));
}

fn run_with(script: &str, expect: Expect) {
    let root = root();
    // One directory per run: a script's two runs (with and without wasm) go in parallel.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "luau-runtime-test-{}-{run}-{}",
        std::process::id(),
        script.replace('/', "_"),
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    // Output goes to files, so a chatty script cannot fill a pipe and stall.
    let mut child = Command::new(env!("CARGO_BIN_EXE_luau-runtime"))
        .current_dir(&root)
        .args(["run", script])
        .args((!expect.real_time).then_some("--virtual-time"))
        .args(&expect.args)
        .args(
            (!expect.args.iter().any(|a| a == "--seed"))
                .then_some(["--seed", "0"])
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("start luau-runtime");
    let started = Instant::now();
    let mut signal = expect.sigterm_after.clone();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let printed =
            |text: &str| std::fs::read_to_string(&out_path).is_ok_and(|o| o.contains(text));
        if signal.as_deref().is_some_and(printed) {
            signal = None;
            let kill = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            assert!(kill.is_ok_and(|s| s.success()), "send SIGTERM");
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            panic!("{script}: still running after {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let context = format!("{script}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    assert_eq!(status.code(), Some(expect.exit), "exit code of {context}");
    if expect.exit == 0 {
        let oks = stdout
            .lines()
            .filter(|l| {
                let l = l.split_once("] ").map_or(*l, |(_, rest)| rest);
                l.starts_with("ok ") && l.ends_with(" checks")
            })
            .count();
        assert_eq!(oks, expect.oks, "`ok … checks` lines of {context}");
    }
    for text in &expect.stdout {
        assert!(
            stdout.contains(text.as_str()),
            "stdout lacks `{text}`: {context}"
        );
    }
    for text in &expect.stdout_lacks {
        assert!(
            !stdout.contains(text.as_str()),
            "stdout has `{text}`: {context}"
        );
    }
    for text in &expect.stderr {
        assert!(
            stderr.contains(text.as_str()),
            "stderr lacks `{text}`: {context}"
        );
    }
}

include!("../../../tests/support/cabi_wasm.rs");

/// Builds the core's C-ABI wasm the wasm scripts load, unless `make` already did.
fn ensure_cabi_wasm() {
    cabi_wasm_path(&root());
}

include!("support/luau_core.rs");

/// The wasm the translated core was made from, and the translated core: the two engines
/// `tests/luau/wasm/lockstep.luau` runs side by side.
fn ensure_both_cores() {
    ensure_cabi_wasm();
    ensure_luau_core();
}

/// Scripts that need the wasm host itself (`wasm.load`), which `--no-wasm` takes away: about the
/// host, or running the wasm beside the translated core.
const WASM_HOST_ONLY: &[&str] = &[
    "tests/luau/wasm/host_contract.luau",
    "tests/luau/wasm/lockstep.luau",
];

/// A script with `--no-wasm`: the module as on Roblox, the package (`--model`, which
/// `tests/luau/lib/module.luau` requires from ServerStorage) on its translated core, and every
/// check as with the wasm.
fn run_without_wasm(script: &str) {
    if WASM_HOST_ONLY.contains(&script) {
        eprintln!("skipped: {script} tests the wasm host, which --no-wasm leaves out");
        return;
    }
    let text = std::fs::read_to_string(root().join(script)).expect("read the script");
    let mut expect = directives(&text);
    expect.args.push("--no-wasm".into());
    expect.args.push("--model".into());
    expect.args.push(packaged_module().display().to_string());
    run_with(script, expect);
}

/// Each script is two tests: `name` with the wasm host, `no_wasm::name` without it.
macro_rules! scripts {
    ($($name:ident => $path:literal $(, $setup:ident)?;)*) => {
        $(
            #[test]
            fn $name() {
                $($setup();)?
                run($path);
            }
        )*

        mod no_wasm {
            $(
                #[test]
                fn $name() {
                    super::run_without_wasm($path);
                }
            )*
        }

        const SCRIPTS: &[&str] = &[$($path),*];
    };
}

scripts! {
    datastore_keyinfo => "tests/luau/services/datastore_keyinfo.luau";
    sorted_map => "tests/luau/services/sorted_map.luau";
    queue => "tests/luau/services/queue.luau";
    task_order => "tests/luau/services/task_order.luau";
    two_servers => "tests/luau/services/two_servers.luau";
    bind_to_close => "tests/luau/services/bind_to_close.luau";
    crash => "tests/luau/services/crash.luau";
    script_end => "tests/luau/services/script_end.luau";
    http_json => "tests/luau/services/http_json.luau";
    faults => "tests/luau/services/faults.luau";
    budgets => "tests/luau/services/budgets.luau";
    inspect => "tests/luau/services/inspect.luau";
    error_exits => "tests/luau/services/error_exits.luau";
    error_in_task => "tests/luau/services/error_in_task.luau";
    idle => "tests/luau/services/idle.luau";
    sigterm => "tests/luau/services/sigterm.luau";
    read_file => "tests/luau/services/read_file.luau";
    players => "tests/luau/services/players.luau";
    seed => "tests/luau/services/seed.luau";
    wasm_codec => "tests/luau/wasm/codec.luau", ensure_cabi_wasm;
    wasm_host_contract => "tests/luau/wasm/host_contract.luau";
    wasm_lockstep => "tests/luau/wasm/lockstep.luau", ensure_both_cores;
    module_basics => "tests/luau/module/basics.luau", ensure_cabi_wasm;
    module_crash_takeover => "tests/luau/module/crash_takeover.luau", ensure_cabi_wasm;
    module_queue_give_coins => "tests/luau/module/queue_give_coins.luau", ensure_cabi_wasm;
    module_compression => "tests/luau/module/compression.luau", ensure_cabi_wasm;
    module_unchanged_saves => "tests/luau/module/unchanged_saves.luau", ensure_cabi_wasm;
    module_templates_odd_shapes => "tests/luau/module/templates_odd_shapes.luau", ensure_cabi_wasm;
    module_large_values => "tests/luau/module/large_values.luau", ensure_cabi_wasm;
    module_deep_values => "tests/luau/module/deep_values.luau", ensure_cabi_wasm;
    module_reconcile => "tests/luau/module/reconcile.luau", ensure_cabi_wasm;
    module_destroyed => "tests/luau/module/destroyed.luau", ensure_cabi_wasm;
    module_collected => "tests/luau/module/collected.luau", ensure_cabi_wasm;
    module_signals => "tests/luau/module/signals.luau", ensure_cabi_wasm;
    module_uncached_load => "tests/luau/module/uncached_load.luau", ensure_cabi_wasm;
    module_errors => "tests/luau/module/errors.luau", ensure_cabi_wasm;
    module_simple => "tests/luau/module/simple.luau", ensure_cabi_wasm;
    module_load => "tests/luau/module/load.luau", ensure_cabi_wasm;
    module_player_data => "tests/luau/module/player_data.luau", ensure_cabi_wasm;
    module_developer_products => "tests/luau/module/developer_products.luau", ensure_cabi_wasm;
    module_automatic_retry => "tests/luau/module/automatic_retry.luau", ensure_cabi_wasm;
    module_readme_queue => "tests/luau/module/readme_queue.luau", ensure_cabi_wasm;
    module_leaderstats => "tests/luau/module/leaderstats.luau", ensure_cabi_wasm;
    module_lock_lapsed => "tests/luau/module/lock_lapsed.luau", ensure_cabi_wasm;
    module_lock_token => "tests/luau/module/lock_token.luau", ensure_cabi_wasm;
    module_lossless => "tests/luau/module/lossless.luau", ensure_cabi_wasm;
    module_invalid_requests => "tests/luau/module/invalid_requests.luau", ensure_cabi_wasm;
    module_differential => "tests/luau/module/differential.luau", ensure_cabi_wasm;
    module_hardening => "tests/luau/module/hardening.luau", ensure_cabi_wasm;
    module_chaos => "tests/luau/module/chaos.luau", ensure_cabi_wasm;
    fleet_lock => "tests/luau/fleet/lock.luau", ensure_cabi_wasm;
    fleet_data => "tests/luau/fleet/data.luau", ensure_cabi_wasm;
    fleet_compressed => "tests/luau/fleet/compressed.luau", ensure_cabi_wasm;
    fleet_queue => "tests/luau/fleet/queue.luau", ensure_cabi_wasm;
    fleet_crash => "tests/luau/fleet/crash.luau", ensure_cabi_wasm;
    fleet_bind_to_close => "tests/luau/fleet/bind_to_close.luau", ensure_cabi_wasm;
}

/// The original module v1.2, reference material beside the repository (its README): scripts in
/// `tests/luau/original/` load it at test time, and are skipped when it is not there, since the
/// project must build and test without it.
const ORIGINAL: &str = "../shared/reference/original-1.2/DataStore.luau";

const ORIGINAL_SCRIPTS: &[&str] = &["tests/luau/original/mixed_fleet.luau"];

fn original_missing() -> bool {
    let missing = !root().join(ORIGINAL).is_file();
    if missing {
        eprintln!("skipped: {ORIGINAL} is not there");
    }
    missing
}

/// A mixed fleet: this module and the original lock each other out through the same entry.
#[test]
fn original_mixed_fleet() {
    if original_missing() {
        return;
    }
    ensure_cabi_wasm();
    // By its absolute path: its `require` of the original climbs above the working directory,
    // which a relative chunk name cannot.
    let script = root().join(ORIGINAL_SCRIPTS[0]).canonicalize().unwrap();
    run(script.to_str().unwrap());
}

/// The same with ours on the translated core.
#[test]
fn original_mixed_fleet_without_wasm() {
    if original_missing() {
        return;
    }
    let script = root().join(ORIGINAL_SCRIPTS[0]).canonicalize().unwrap();
    run_without_wasm(script.to_str().unwrap());
}

/// The fleet scenarios (`tests/luau/fleet/`, above with ours on both sides) live as the pairings
/// `tests/vectors/fleet/` recorded, the original on one side or both: `--servers 8` runs them
/// all (`tests/luau/fleet/lib/fleet.luau`), and each role must observe what was recorded.
macro_rules! original_fleet {
    ($($name:ident => $topic:literal;)*) => {
        $(
            #[test]
            fn $name() {
                original_fleet($topic, false);
            }
        )*

        /// The same with ours on the translated core (`--no-wasm`).
        mod original_without_wasm {
            $(
                #[test]
                fn $name() {
                    super::original_fleet($topic, true);
                }
            )*
        }
    };
}

fn original_fleet(topic: &str, no_wasm: bool) {
    if original_missing() {
        return;
    }
    if no_wasm {
        ensure_luau_core();
    } else {
        ensure_cabi_wasm();
    }
    // By its absolute path, as above.
    let script = root().join(format!("tests/luau/fleet/{topic}.luau"));
    let script = script.canonicalize().unwrap();
    let mut args = vec!["--servers".to_owned(), "8".to_owned()];
    if no_wasm {
        args.push("--no-wasm".into());
        args.push("--model".into());
        args.push(packaged_module().display().to_string());
    }
    run_with(
        script.to_str().unwrap(),
        Expect {
            args,
            oks: 8,
            stdout_lacks: vec!["differs from the recording".into()],
            ..Expect::default()
        },
    );
}

original_fleet! {
    original_fleet_lock => "lock";
    original_fleet_data => "data";
    original_fleet_compressed => "compressed";
    original_fleet_queue => "queue";
    original_fleet_crash => "crash";
    original_fleet_bind_to_close => "bind_to_close";
}

/// The README's Luau example: two servers, the second locked out, queueing coins to the first.
#[test]
fn readme_server_example() {
    ensure_cabi_wasm();
    readme_server_example_with(&[]);
}

/// The same on the translated core.
#[test]
fn readme_server_example_without_wasm() {
    ensure_luau_core();
    readme_server_example_with(&["--no-wasm"]);
}

fn readme_server_example_with(extra: &[&str]) {
    let lines = [
        "[server 1] Open: Success\n",
        "[server 2] Open: Locked by ",
        "[server 2] Queue: Success\n",
        "[server 1] ProcessQueue: Coins = 10\n",
        "[server 1] Destroy: Saved\n",
        "[server 2] Open: Success Coins = 10\n",
    ];
    run_with(
        "examples/server.luau",
        Expect {
            args: ["--servers", "2"]
                .iter()
                .chain(extra)
                .map(|a| a.to_string())
                .collect(),
            stdout: lines.map(String::from).to_vec(),
            ..Expect::default()
        },
    );
}

/// What `tests/luau/services/seed.luau` prints (its seed, a GUID, the JobId, a `math.random`) on
/// a run with `args`.
fn seeded_output(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_luau-runtime"))
        .current_dir(root())
        .args(["run", "tests/luau/services/seed.luau", "--virtual-time"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run luau-runtime");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn runs_without_a_seed_differ_and_runs_with_one_repeat() {
    let (a, b) = (seeded_output(&[]), seeded_output(&[]));
    assert_ne!(a, b, "two runs without --seed");
    for line in ["seed ", "guid ", "job ", "random "] {
        let of = |out: &str| out.lines().find(|l| l.starts_with(line)).map(str::to_owned);
        assert_ne!(of(&a), of(&b), "`{line}` of two runs without --seed");
    }
    let seeded = seeded_output(&["--seed", "42"]);
    assert_eq!(
        seeded,
        seeded_output(&["--seed", "42"]),
        "two runs with --seed 42"
    );
    assert!(seeded.starts_with("seed 42\n"), "{seeded}");
}

/// `--version` and the help of each command, from the built binary.
#[test]
fn version_and_help() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_luau-runtime"))
            .args(args)
            .output()
            .expect("run luau-runtime");
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    let (code, out) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with(concat!(
            "luau-runtime ",
            env!("CARGO_PKG_VERSION"),
            " (Luau 0."
        )),
        "{out}"
    );
    for args in [&["help", "run"][..], &["run", "--help"]] {
        let (code, out) = run(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(
            out.starts_with("usage: luau-runtime run "),
            "{args:?}: {out}"
        );
    }
    let (code, out) = run(&["help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("commands:"), "{out}");
    assert_eq!(run(&["help", "go"]).0, Some(2));
    assert_eq!(run(&["run", "--what"]).0, Some(2));
}

#[test]
fn every_script_has_a_test() {
    let root = root();
    for dir in [
        "tests/luau/services",
        "tests/luau/wasm",
        "tests/luau/module",
        "tests/luau/original",
        "tests/luau/fleet",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".luau") {
                let path = format!("{dir}/{name}");
                assert!(
                    SCRIPTS.contains(&path.as_str()) || ORIGINAL_SCRIPTS.contains(&path.as_str()),
                    "{path} has no test in scripts.rs"
                );
            }
        }
    }
}
