//! Translates a wasm module ahead of time into one Luau ModuleScript, so the core's C-ABI build
//! (`src/cabi.rs`) runs on any Luau VM, Roblox included, where no wasm host exists (issue 13).
//!
//! The output returns `{ instantiate = function(imports) -> instance }`; the instance has the
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
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Count calls of each function in a global table `PROFILE` (by function index): where the
    /// time goes, for tuning the translation. Not for shipping.
    pub profile: bool,
}

/// The Luau source of `wasm`, as one ModuleScript.
pub fn translate(wasm: &[u8]) -> Result<String, Error> {
    translate_with(wasm, Options::default())
}

/// [`translate`] with options.
pub fn translate_with(wasm: &[u8], options: Options) -> Result<String, Error> {
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

    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str(PRELUDE);
    if options.profile {
        out.push_str("PROFILE = {}\n");
    }
    out.push_str("\nlocal function instantiate(imports: any): any\n");
    let (pages, max) = memory.unwrap_or((0, Some(0)));
    // A buffer holds at most 1 GiB.
    let max = max.unwrap_or(16384).min(16384);
    let _ = writeln!(out, "local M = buffer.create({})", pages * 65536);
    let _ = writeln!(out, "local F = table.create({})", m.funcs.len());
    for (i, (ty, init)) in m.globals.iter().zip(&global_inits).enumerate() {
        match ty {
            ValType::I64 => {
                let _ = writeln!(out, "local g{i}, gh{i} = {init}");
            }
            _ => {
                let _ = writeln!(out, "local g{i} = {init}");
            }
        }
    }
    if m.globals.len() > 150 {
        return Err(unsupported("more than 150 globals"));
    }
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
    let ops_count = bodies.len();
    for (n, body) in bodies.iter().enumerate() {
        let index = (m.imports.len() + n) as u32;
        let code = func::translate(&m, index, body, options.profile)
            .map_err(|e| Error(format!("function {index}: {e}")))?;
        let _ = write!(out, "F[{}] = {code}", index + 1);
    }
    debug_assert_eq!(ops_count, m.funcs.len() - m.imports.len());
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
    out.push_str("return instance\nend\n\nreturn table.freeze({ instantiate = instantiate })\n");
    Ok(out)
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
        (Operator::F32Const { value }, ValType::F32) => {
            func::float(f32::from_bits(value.bits()).into())
        }
        (Operator::F64Const { value }, ValType::F64) => func::float(f64::from_bits(value.bits())),
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
-- `make build`. `require` it and call `instantiate(imports)` for an instance with the methods of
-- the wasm host contract (luau/HOST.md): call, read, write, size.
";

const PRELUDE: &str = include_str!("prelude.luau");

/// Memory growth: it replaces the buffer `M`, so it lives inside `instantiate`.
const MEMORY: &str = "\
local function GROW(n: number): number
	local old = buffer.len(M) // 65536
	if old + n > MAXPAGES then
		return 4294967295
	end
	if n > 0 then
		local grown = buffer.create((old + n) * 65536)
		buffer.copy(grown, 0, M)
		M = grown
	end
	return old
end";

/// The instance: the host contract's methods over `F`, `M` and `EXPORTS`.
const INSTANCE: &str = include_str!("instance.luau");
