//! `wasm2luau [--profile] [--parts N] <in.wasm> <out.luau>` translates a module into Luau
//! ModuleScripts: `out.luau`, the module, and its parts `out1.luau` … `outN.luau` beside it (N
//! is [`PARTS`] unless given). With `--profile`, they count each function's calls in a global
//! `PROFILE`.
//! `wasm2luau --opcodes <in.wasm>` lists the instructions the module uses, with counts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wasm2luau::Options;

/// The core's parts, each small enough for Luau to compile to native code (`Options::parts`).
/// `default.project.json` and `wally.toml` list them: change them together
/// (host/luau-runtime/tests/package.rs checks the project against the files).
const PARTS: usize = 4;

/// The most bytes of Luau one part may hold. The core's functions compiled to native code
/// within Luau's default limits up to about 900 KB of source, and not at 1.18 MB (luau-runtime,
/// Luau 0.740): this keeps a margin. A larger part would run on the interpreter, several times
/// slower, so the build fails instead.
const MAX_PART_BYTES: usize = 760_000;

const USAGE: &str = "usage: wasm2luau [--profile] [--parts N] <in.wasm> <out.luau>\n       wasm2luau --opcodes <in.wasm>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, input] if flag == "--opcodes" => read(input).and_then(|wasm| {
            let counts = wasm2luau::opcodes(&wasm).map_err(|e| e.to_string())?;
            for (name, count) in counts {
                println!("{count:>8} {name}");
            }
            Ok(())
        }),
        _ => options(&args).and_then(|(options, input, output)| translate(input, output, options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wasm2luau: {message}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &[String]) -> Result<(Options, &str, &str), String> {
    let mut options = Options {
        parts: PARTS,
        ..Options::default()
    };
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--profile" => options.profile = true,
            "--parts" => {
                options.parts = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("--parts takes a whole number >= 1")?;
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"))
            }
            file => files.push(file),
        }
    }
    match files.as_slice() {
        [input, output] => Ok((options, input, output)),
        _ => Err(USAGE.to_owned()),
    }
}

/// Where part `k` of the module written to `output` goes: `out.luau` → `outK.luau`.
fn part_path(output: &Path, k: usize) -> PathBuf {
    let stem = output.file_stem().unwrap_or_default().to_string_lossy();
    output.with_file_name(format!("{stem}{k}.luau"))
}

fn translate(input: &str, output: &str, options: Options) -> Result<(), String> {
    let wasm = read(input)?;
    let translation =
        wasm2luau::translate_with(&wasm, options).map_err(|e| format!("{input}: {e}"))?;
    let count = translation.parts.len();
    for (k, part) in translation.parts.iter().enumerate() {
        if part.len() > MAX_PART_BYTES {
            return Err(format!(
                "part {} of {count} holds {} bytes, more than {MAX_PART_BYTES}: Luau would not \
                 compile it to native code; translate into more parts (--parts, and list them \
                 where PARTS says)",
                k + 1,
                part.len()
            ));
        }
    }
    let output = Path::new(output);
    // Whole or not at all: a reader (make, a test) never sees half a module. The parts go
    // first, the module last: make's target is the module.
    for (k, part) in translation.parts.iter().enumerate() {
        write(&part_path(output, k + 1), part)?;
    }
    write(output, &translation.main)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    let partial = path.with_extension("luau.partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}
