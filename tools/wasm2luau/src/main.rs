//! `wasm2luau <in.wasm> <out.luau>` translates a module into one Luau ModuleScript (with
//! `--profile` first, one that counts each function's calls in a global `PROFILE`);
//! `wasm2luau --opcodes <in.wasm>` lists the instructions the module uses, with counts.

use std::process::ExitCode;

use wasm2luau::Options;

const USAGE: &str =
    "usage: wasm2luau [--profile] <in.wasm> <out.luau>\n       wasm2luau --opcodes <in.wasm>";

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
        [input, output] => translate(input, output, Options::default()),
        [flag, input, output] if flag == "--profile" => {
            translate(input, output, Options { profile: true })
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wasm2luau: {message}");
            ExitCode::FAILURE
        }
    }
}

fn translate(input: &str, output: &str, options: Options) -> Result<(), String> {
    read(input).and_then(|wasm| {
        let luau =
            wasm2luau::translate_with(&wasm, options).map_err(|e| format!("{input}: {e}"))?;
        // Whole or not at all: a reader (make, a test) never sees half a module.
        let partial = format!("{output}.partial");
        std::fs::write(&partial, luau)
            .and_then(|()| std::fs::rename(&partial, output))
            .map_err(|e| format!("cannot write {output}: {e}"))
    })
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}
