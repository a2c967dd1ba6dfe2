//! Native code generation as Roblox does it on servers: a chunk is compiled to machine code
//! only when it asks, with a `--!native` hot comment at its top (the whole module) or `@native`
//! on a function; everything else runs on the interpreter. `--native all` compiles every chunk
//! (to compare with code that was never marked) and `--native none` none (a Luau VM without
//! code generation). Luau decides per function within a chunk; behaviour never differs, only
//! speed.
//!
//! mlua compiles every chunk loaded while its JIT switch is on, so the switch is off by default
//! and each load turns it on for itself when the chunk asks: the script, `ModuleScript`s of a
//! model (`model.rs`) and modules `require`d by path ([`Requirer`]).

use std::io::Result as IoResult;

use mlua::luau::{FsRequirer, NavigateError, Require};
use mlua::{Function, Lua};

/// Which chunks are compiled to native code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Native {
    /// Those marked `--!native` or holding an `@native` function, as on Roblox servers.
    #[default]
    Marked,
    All,
    None,
}

impl Native {
    pub fn parse(text: &str) -> Result<Native, String> {
        match text {
            "marked" => Ok(Native::Marked),
            "all" => Ok(Native::All),
            "none" => Ok(Native::None),
            other => Err(format!(
                "--native: `{other}` is not one of marked, all, none"
            )),
        }
    }

    /// Sets mlua's switch for the next chunk loaded, whose source is `source`.
    pub fn before_load(self, lua: &Lua, source: &[u8]) {
        lua.enable_jit(match self {
            Native::All => true,
            Native::None => false,
            Native::Marked => marked(source),
        });
    }
}

/// Whether `source` asks for native code: a `--!native` line among the comments before its
/// first statement (where Luau reads hot comments), or the text `@native` anywhere (an
/// attribute; text that merely mentions it compiles a chunk that did not ask, which changes
/// only speed).
pub fn marked(source: &[u8]) -> bool {
    let text = String::from_utf8_lossy(source);
    for line in text.lines() {
        let line = line.trim();
        if line == "--!native" {
            return true;
        }
        if !(line.is_empty() || line.starts_with("--")) {
            break;
        }
    }
    text.contains("@native")
}

/// mlua's file-system `require`, with the switch set for each module it loads.
pub struct Requirer {
    inner: FsRequirer,
    native: Native,
}

impl Requirer {
    pub fn new(native: Native) -> Requirer {
        Requirer {
            inner: FsRequirer::new(),
            native,
        }
    }
}

impl Require for Requirer {
    fn is_require_allowed(&self, chunk_name: &str) -> bool {
        self.inner.is_require_allowed(chunk_name)
    }

    fn reset(&mut self, chunk_name: &str) -> Result<(), NavigateError> {
        self.inner.reset(chunk_name)
    }

    fn jump_to_alias(&mut self, path: &str) -> Result<(), NavigateError> {
        self.inner.jump_to_alias(path)
    }

    fn to_alias_override(&mut self, alias: &str) -> Result<(), NavigateError> {
        self.inner.to_alias_override(alias)
    }

    fn to_alias_fallback(&mut self, alias: &str) -> Result<(), NavigateError> {
        self.inner.to_alias_fallback(alias)
    }

    fn to_parent(&mut self) -> Result<(), NavigateError> {
        self.inner.to_parent()
    }

    fn to_child(&mut self, name: &str) -> Result<(), NavigateError> {
        self.inner.to_child(name)
    }

    fn has_module(&self) -> bool {
        self.inner.has_module()
    }

    fn cache_key(&self) -> String {
        self.inner.cache_key()
    }

    fn has_config(&self) -> bool {
        self.inner.has_config()
    }

    fn config(&self) -> IoResult<Vec<u8>> {
        self.inner.config()
    }

    fn loader(&self, lua: &Lua) -> mlua::Result<Function> {
        // The cache key is the module's resolved path (mlua's FsRequirer).
        let source = std::fs::read(self.inner.cache_key()).unwrap_or_default();
        self.native.before_load(lua, &source);
        let loaded = self.inner.loader(lua);
        lua.enable_jit(false);
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_marked_by_its_hot_comment_or_an_attribute() {
        assert!(marked(b"--!optimize 2\n--!native\nlocal x = 1"));
        assert!(marked(b"-- about\n\n--!native\nreturn 1"));
        assert!(marked(b"local f = @native function() end"));
        assert!(!marked(b"--!strict\nreturn 1"));
        // A hot comment after the first statement is no hot comment.
        assert!(!marked(b"local x = 1\n--!native\n"));
    }

    #[test]
    fn native_modes_parse_and_refuse_others() {
        assert_eq!(Native::parse("marked"), Ok(Native::Marked));
        assert_eq!(Native::parse("all"), Ok(Native::All));
        assert_eq!(Native::parse("none"), Ok(Native::None));
        assert!(Native::parse("yes").is_err());
    }
}
