//! `rbxm <project.json> <out.rbxm>`: packs a Rojo project (the subset `src/lib.rs` describes)
//! into a binary Roblox model, as `rojo build -o out.rbxm` would.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [project, out] = args.as_slice() else {
        eprintln!("usage: rbxm <project.json> <out.rbxm>");
        return ExitCode::from(2);
    };
    match rbxm::pack(Path::new(project)).and_then(|dom| rbxm::write(&dom, Path::new(out))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rbxm: {message}");
            ExitCode::FAILURE
        }
    }
}
