//! Translates a wasm module ahead of time into Luau ModuleScripts, so the core's C-ABI build
//! (`src/cabi.rs`) runs on any Luau VM, Roblox included, where no wasm host exists (issue 13).
//!
//! The output is a module and its parts ([`Translation`]). The parts hold the functions, each
//! part marked `--!native` and small enough (with enough of them) for Luau to compile to machine
//! code as one unit; each returns a function that defines its functions into the state the
//! parts share (the function table `F`, the globals `G`, the indirect-call table, and its own
//! view `M` of the memory buffer, which memory growth replaces in every part). The module
//! returns `{ instantiate = function(imports, parts) -> instance, parts = n }`; the instance has the
//! methods of the wasm host contract (`luau/HOST.md`): `call`, `read`, `write` and `size`. An
//! import `module.name` is `imports[module][name]`, called as `f(instance, ...)` with the wasm
//! arguments (each i32 as its unsigned value, each i64 as two such halves, low first).
//!
//! The translation covers what the core's wasm uses, not all of wasm: one memory, one funcref
//! table, numeric globals, active data and element segments, the MVP instructions and the
//! sign-extension, saturating-conversion, bulk-memory copy/fill and multi-value extensions.
//! Anything else fails the translation with an error naming it (`Error`). How values and control
//! flow map to Luau is in `func.rs`; the numeric helpers the output calls are `prelude.luau`.

mod func;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use wasmparser::{
    ConstExpr, DataKind, ElementItems, ElementKind, ExternalKind, FuncType, Operator, Parser,
    Payload, TypeRef, ValType, Validator, WasmFeatures,
};

/// Why a module cannot be translated.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Error {
        Error(format!("invalid wasm: {e}"))
    }
}

fn unsupported(what: impl fmt::Display) -> Error {
    Error(format!("unsupported by wasm2luau: {what}"))
}

/// What the function translator needs to know of the module.
pub(crate) struct Module {
    pub types: Vec<FuncType>,
    /// The type of every function, imports first.
    pub funcs: Vec<u32>,
    pub imports: Vec<(String, String)>,
    pub globals: Vec<ValType>,
    /// For each type, the index of the first structurally equal one (`call_indirect` checks).
    pub canonical: Vec<u32>,
}

/// How to translate.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Count calls of each function in a global table `PROFILE` (by function index): where the
    /// time goes, for tuning the translation. Not for shipping.
    pub profile: bool,
    /// Into how many parts the functions go (at least one). Luau compiles each ModuleScript to
    /// native code as one unit, within limits (by default 1M IR instructions and one 4 MiB
    /// block of code): beyond them, functions of the part run on the interpreter instead.
    pub parts: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: false,
            parts: 1,
        }
    }
}

/// The translation: the module itself, and the parts it is instantiated with.
#[derive(Clone, Debug)]
pub struct Translation {
    /// `{ instantiate = function(imports, parts) -> instance, parts = n }`.
    pub main: String,
    /// Each returns a function that defines its functions into the instance being built.
    pub parts: Vec<String>,
}

/// The Luau source of `wasm`, in one part.
pub fn translate(wasm: &[u8]) -> Result<Translation, Error> {
    translate_with(wasm, Options::default())
}

/// [`translate`] with options.
pub fn translate_with(wasm: &[u8], options: Options) -> Result<Translation, Error> {
    Validator::new_with_features(features()).validate_all(wasm)?;
    let mut m = Module {
        types: Vec::new(),
        funcs: Vec::new(),
        imports: Vec::new(),
        globals: Vec::new(),
        canonical: Vec::new(),
    };
    let mut memory: Option<(u64, Option<u64>)> = None;
    let mut table_size = 0u64;
    let mut global_inits = Vec::new();
    let mut exports = Vec::new();
    let mut start = None;
    let mut elements = Vec::new();
    let mut data = Vec::new();
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    m.types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for group in reader {
                    for import in group? {
                        let (_, import) = import?;
                        match import.ty {
                            TypeRef::Func(ty) => {
                                m.funcs.push(ty);
                                m.imports
                                    .push((import.module.to_owned(), import.name.to_owned()));
                            }
                            other => {
                                return Err(unsupported(format_args!(
                                    "import {}.{} of kind {other:?} (only functions)",
                                    import.module, import.name
                                )))
                            }
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    m.funcs.push(ty?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table?;
                    if table_size > 0 || !table.ty.element_type.is_func_ref() {
                        return Err(unsupported("more than one table, or a non-funcref table"));
                    }
                    table_size = table.ty.initial;
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader {
                    let mem = mem?;
                    if memory.is_some() || mem.memory64 || mem.shared {
                        return Err(unsupported("several, 64-bit or shared memories"));
                    }
                    memory = Some((mem.initial, mem.maximum));
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global?;
                    m.globals.push(global.ty.content_type);
                    global_inits.push(const_value(&global.init_expr, global.ty.content_type)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.kind == ExternalKind::Func {
                        exports.push((export.name.to_owned(), export.index));
                    }
                }
            }
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::ElementSection(reader) => {
                for element in reader {
                    let element = element?;
                    let offset = match element.kind {
                        ElementKind::Active {
                            table_index: None | Some(0),
                            offset_expr,
                        } => const_u32(&offset_expr)?,
                        ElementKind::Declared => continue,
                        _ => return Err(unsupported("passive element segments")),
                    };
                    let ElementItems::Functions(items) = element.items else {
                        return Err(unsupported("element segments of expressions"));
                    };
                    let items = items.into_iter().collect::<Result<Vec<u32>, _>>()?;
                    elements.push((offset, items));
                }
            }
            Payload::DataSection(reader) => {
                for segment in reader {
                    let segment = segment?;
                    let DataKind::Active { offset_expr, .. } = segment.kind else {
                        return Err(unsupported("passive data segments (memory.init)"));
                    };
                    data.push((const_u32(&offset_expr)?, segment.data.to_vec()));
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }
    m.canonical = (0..m.types.len())
        .map(|i| m.types.iter().position(|t| *t == m.types[i]).unwrap() as u32)
        .collect();

    // Each function's code, then the parts: runs of functions in index order, about equal in
    // size, each one compile unit (a ModuleScript) for native code generation.
    let mut codes = Vec::with_capacity(bodies.len());
    for (n, body) in bodies.iter().enumerate() {
        let index = (m.imports.len() + n) as u32;
        let code = func::translate(&m, index, body, options.profile)
            .map_err(|e| Error(format!("function {index}: {e}")))?;
        codes.push(format!("F[{}] = {code}", index + 1));
    }
    let parts = split(&codes, options.parts.max(1));

    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str(PRELUDE);
    if options.profile {
        out.push_str("PROFILE = {}\n");
    }
    out.push_str("\nlocal function instantiate(imports: any, parts: { (any) -> () }): any\n");
    let _ = writeln!(
        out,
        "if #parts ~= {n} then error(`instantiate: expects the {n} parts of the core, got {{#parts}}`, 2) end",
        n = parts.len()
    );
    let (pages, max) = memory.unwrap_or((0, Some(0)));
    // A buffer holds at most 1 GiB.
    let max = max.unwrap_or(16384).min(16384);
    let _ = writeln!(out, "local M = buffer.create({})", pages * 65536);
    let _ = writeln!(out, "local F = table.create({})", m.funcs.len());
    let mut globals = Vec::new();
    for (ty, init) in m.globals.iter().zip(&global_inits) {
        match ty {
            ValType::I64 => globals.push(init.clone()),
            _ => globals.push(format!("{init}, 0")),
        }
    }
    let _ = writeln!(out, "local G = {{ {} }}", globals.join(", "));
    let _ = writeln!(out, "{}", MEMORY.replace("MAXPAGES", &max.to_string()));
    out.push_str("local instance\nlocal TF, TT = table.create(");
    let _ = writeln!(out, "{table_size}), table.create({table_size})");
    for (i, (module, name)) in m.imports.iter().enumerate() {
        let _ = writeln!(
            out,
            "local import{i} = (imports[{module:?}] or {{}})[{name:?}]\nif type(import{i}) ~= \"function\" then error(\"instantiate: the import {module}.{name} is missing\", 2) end\nF[{}] = function(...) return import{i}(instance, ...) end",
            i + 1
        );
    }
    out.push_str(SHARE);
    // The table: slot i's function and the canonical index of its type (filled below; the
    // functions see it as an upvalue).
    for (offset, items) in &elements {
        for (k, f) in items.iter().enumerate() {
            let slot = *offset as usize + k + 1;
            let ty = m.canonical[m.funcs[*f as usize] as usize];
            let _ = writeln!(out, "TF[{slot}], TT[{slot}] = F[{}], {ty}", f + 1);
        }
    }
    for (offset, bytes) in &data {
        for (k, chunk) in bytes.chunks(4096).enumerate() {
            let _ = writeln!(
                out,
                "buffer.writestring(M, {}, \"{}\")",
                *offset as usize + k * 4096,
                escape(chunk)
            );
        }
    }
    out.push_str("local EXPORTS = {\n");
    for (name, index) in &exports {
        let ty = &m.types[m.funcs[*index as usize] as usize];
        let _ = writeln!(
            out,
            "[{name:?}] = {{ F[{}], {:?}, {:?} }},",
            index + 1,
            kinds(ty.params()),
            kinds(ty.results())
        );
    }
    out.push_str("}\n");
    out.push_str(INSTANCE);
    if let Some(start) = start {
        let _ = writeln!(out, "F[{}]()", start + 1);
    }
    let _ = writeln!(
        out,
        "return instance\nend\n\nreturn table.freeze({{ instantiate = instantiate, parts = {} }})",
        parts.len()
    );
    let count = parts.len();
    let parts = parts
        .into_iter()
        .enumerate()
        .map(|(k, codes)| {
            let mut part = PART_HEADER
                .replace("PART", &(k + 1).to_string())
                .replace("COUNT", &count.to_string());
            part.push_str(PRELUDE);
            part.push_str(PART_OPEN);
            for code in codes {
                part.push_str(code);
            }
            part.push_str("end\n");
            part
        })
        .collect();
    Ok(Translation { main: out, parts })
}

/// The functions' codes in `count` runs of about equal size (fewer when there are fewer
/// functions).
fn split(codes: &[String], count: usize) -> Vec<Vec<&String>> {
    let total: usize = codes.iter().map(String::len).sum();
    let target = total.div_ceil(count);
    let mut parts: Vec<Vec<&String>> = vec![Vec::new()];
    let mut size = 0;
    for code in codes {
        if size >= target && parts.len() < count {
            parts.push(Vec::new());
            size = 0;
        }
        parts.last_mut().expect("a part").push(code);
        size += code.len();
    }
    parts
}

/// How often each instruction occurs in `wasm`'s code, by wasmparser's name for it: what a
/// translation of that module has to cover.
pub fn opcodes(wasm: &[u8]) -> Result<BTreeMap<String, usize>, Error> {
    let mut counts = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload? {
            let mut reader = body.get_operators_reader()?;
            while !reader.eof() {
                let op = reader.read()?;
                let name = format!("{op:?}");
                let name = name
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                *counts.entry(name).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

fn features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::FLOATS
}

fn kinds(types: &[ValType]) -> String {
    types
        .iter()
        .map(|t| match t {
            ValType::I32 => 'i',
            ValType::I64 => 'I',
            ValType::F32 | ValType::F64 => 'f',
            _ => '?',
        })
        .collect()
}

fn const_op(expr: &ConstExpr<'_>) -> Result<Operator<'static>, Error> {
    let mut reader = expr.get_operators_reader();
    let op = reader.read()?;
    let op = match op {
        Operator::I32Const { value } => Operator::I32Const { value },
        Operator::I64Const { value } => Operator::I64Const { value },
        Operator::F32Const { value } => Operator::F32Const { value },
        Operator::F64Const { value } => Operator::F64Const { value },
        other => return Err(unsupported(format_args!("constant expression {other:?}"))),
    };
    if !matches!(reader.read()?, Operator::End) {
        return Err(unsupported("extended constant expressions"));
    }
    Ok(op)
}

fn const_u32(expr: &ConstExpr<'_>) -> Result<u32, Error> {
    match const_op(expr)? {
        Operator::I32Const { value } => Ok(value as u32),
        _ => Err(unsupported("a non-i32 offset")),
    }
}

fn const_value(expr: &ConstExpr<'_>, ty: ValType) -> Result<String, Error> {
    Ok(match (const_op(expr)?, ty) {
        (Operator::I32Const { value }, ValType::I32) => (value as u32).to_string(),
        (Operator::I64Const { value }, ValType::I64) => {
            let v = value as u64;
            format!("{}, {}", v as u32, (v >> 32) as u32)
        }
        (Operator::F32Const { value }, ValType::F32) => func::f32_const(value.bits()),
        (Operator::F64Const { value }, ValType::F64) => func::f64_const(value.bits()),
        _ => return Err(unsupported(format_args!("a global of type {ty:?}"))),
    })
}

/// Bytes as the inside of a Luau string literal.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

const HEADER: &str = "\
--!optimize 2
-- Generated by tools/wasm2luau from the core's C-ABI wasm (issue 13): do not edit, rebuild with
-- `make build`. `require` it and its parts, and call `instantiate(imports, parts)` for an
-- instance with the methods of the wasm host contract (luau/HOST.md): call, read, write, size.
";

/// A part's first lines: `--!native` asks Roblox (and luau-runtime) to compile it to machine
/// code, which is where the translated functions gain most (several times faster).
const PART_HEADER: &str = "\
--!optimize 2
--!native
-- Generated by tools/wasm2luau from the core's C-ABI wasm (issue 13): do not edit, rebuild with
-- `make build`. Part PART of COUNT of the core's functions: the core's `instantiate` calls what
-- this returns with the state the parts share.
";

/// A part's state: the tables every part shares, and its own view of the memory buffer, which
/// `GROW` replaces in every part.
const PART_OPEN: &str = "\
return function(S: any)
local F, G, TF, TT, GROW, SIZE = S.F, S.G, S.TF, S.TT, S.GROW, S.SIZE
local M: buffer = S.M
table.insert(S.views, function(grown: buffer)
\tM = grown
end)
";

/// What the parts share (`PART_OPEN`); then each part defines its functions into `F`.
const SHARE: &str = "\
local shared = { F = F, G = G, TF = TF, TT = TT, GROW = GROW, SIZE = SIZE, M = M, views = views }
for _, part in parts do
\tpart(shared)
end
";

const PRELUDE: &str = include_str!("prelude.luau");

/// Memory growth: it replaces the buffer `M`, in this module and in every part's view of it,
/// so it lives inside `instantiate`. The memory's size in pages (`memory.size`, `SIZE()`) is
/// kept apart from the buffer's: a buffer cannot grow in place, so each new one is half as large
/// again as the memory asked for (up to the maximum). A program that grows its memory a page at
/// a time (dlmalloc does, for one growing allocation) made a new buffer and copied all of memory
/// at every page: 254 copies and 4.5 GB for one `Usage()` of a 2 MB value (a helper's hunt),
/// a handful now. The buffer's bytes past the memory's size are never handed out, and are zero
/// when the memory grows over them, as wasm's new pages are. An access there does not trap, where
/// wasm's would: the core never makes one (Rust reads and writes only memory it allocated), and
/// the host's reads and writes (`instance.luau`) are checked against the memory's size.
const MEMORY: &str = "\
local views: { (buffer) -> () } = {}
local pages = buffer.len(M) // 65536
local function SIZE(): number
\treturn pages
end
local function GROW(n: number): number
\tlocal old = pages
\tif old + n > MAXPAGES then
\t\treturn 4294967295
\tend
\tif n > 0 then
\t\tpages = old + n
\t\tif pages * 65536 > buffer.len(M) then
\t\t\tlocal grown = buffer.create(math.min(pages + pages // 2, MAXPAGES) * 65536)
\t\t\tbuffer.copy(grown, 0, M)
\t\t\tM = grown
\t\t\tfor _, view in views do
\t\t\t\tview(grown)
\t\t\tend
\t\tend
\tend
\treturn old
end";

/// The instance: the host contract's methods over `F`, `M` and `EXPORTS`.
const INSTANCE: &str = include_str!("instance.luau");
