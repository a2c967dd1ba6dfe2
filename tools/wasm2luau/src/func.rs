//! One wasm function as one Luau function.
//!
//! Values: the operand stack is compiled away. Each stack position `p` has Luau variables `s{p}`
//! (and `h{p}`, the high half of an i64); a pure value (arithmetic, comparisons, loads, local and
//! global reads) stays on a compile-time stack as a Luau expression until something consumes it,
//! so `local.get; i32.const; i32.add; i32.load` becomes one expression. A pending expression is
//! stored into its position's variable ("materialized") before anything could change what it
//! reads: a `local.set` of a local it reads, a store, call or `memory.*` if it reads memory or a
//! global, and every block boundary. An i64 is always a pair of atoms (a constant, a variable),
//! so its operations are statements assigning `s{p}, h{p}`. A comparison stays a Luau boolean
//! until a number is needed.
//!
//! Control flow: Luau has no `goto`, so a block or `if` that a branch targets is wrapped in
//! `repeat … until true` and a targeted `loop` is `while true do … break end`; a branch to the
//! innermost wrapper is `break` (or `continue`), one further out sets `brk` to the target's depth
//! and breaks, and every wrapper it leaves checks `brk` after its end. A branch to the function
//! is `return`. Blocks nobody branches to cost nothing. `br_table` is a binary search over runs
//! of equal targets.
//!
//! Limits: locals and stack variables go beyond Luau's 200 locals per function only by moving
//! the least used wasm locals into a table `R`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use wasmparser::{BlockType, FunctionBody, MemArg, Operator, ValType};

use crate::{unsupported, Error, Module};

mod numeric;

/// Luau allows 200 locals and 255 registers per function; this leaves room for temporaries.
const MAX_LOCALS: usize = 170;
/// Luau's parser gives up somewhere beyond 600 nested blocks; the translation refuses sooner, with
/// a message, than hand Luau source it cannot compile.
const MAX_NESTING: usize = 400;
/// How many operations an expression may pile up before it is stored into its variable.
const MAX_COST: u32 = 10;
const P32: &str = "4294967296";

#[derive(Clone, Default)]
struct Deps {
    locals: Vec<u32>,
    /// Reads memory or a global, which stores, calls and `memory.*` can change.
    memory: bool,
    /// The stack variable it reads (only ever its own position's).
    slot: Option<usize>,
}

impl Deps {
    fn merge(mut self, other: &Deps) -> Deps {
        self.locals.extend_from_slice(&other.locals);
        self.memory |= other.memory;
        self.slot = self.slot.max(other.slot);
        self
    }

    fn constant(&self) -> bool {
        self.locals.is_empty() && !self.memory && self.slot.is_none()
    }
}

#[derive(Clone)]
enum Value {
    /// An i32, f32 or f64 as a Luau expression; `cost` 0 means an atom (a name or constant).
    Num { code: String, cost: u32, deps: Deps },
    /// An i32 that is 0 or 1, as a Luau boolean expression.
    Bool { code: String, cost: u32, deps: Deps },
    /// An i64: low and high halves, each an atom.
    Wide { lo: String, hi: String, deps: Deps },
}

impl Value {
    fn deps(&self) -> &Deps {
        match self {
            Value::Num { deps, .. } | Value::Bool { deps, .. } | Value::Wide { deps, .. } => deps,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Func,
    Block,
    Loop,
    If,
}

struct Frame {
    kind: Kind,
    /// Some branch targets it: it is a Luau loop (`repeat`/`while`) to `break` out of.
    wrapped: bool,
    /// A branch leaves through it to a frame further out (`brk` is checked after its end).
    escapes: bool,
    /// Stack height below its parameters.
    height: usize,
    params: Vec<ValType>,
    results: Vec<ValType>,
    code: String,
    cond: String,
    then_code: Option<String>,
    unreachable: bool,
}

struct Translator<'a> {
    m: &'a Module,
    index: u32,
    profile: bool,
    types: Vec<ValType>,
    params: usize,
    /// The Luau names of each wasm local: value (or low half), high half.
    names: Vec<(String, String)>,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    /// Per block/loop/if in order of appearance: whether a branch targets it.
    targeted: Vec<bool>,
    opened: usize,
    /// Nesting depth inside unreachable code being skipped.
    skip: usize,
    slots: BTreeSet<usize>,
    high_slots: BTreeSet<usize>,
    uses_brk: bool,
    /// The function's body once its frame has closed.
    done: Option<String>,
}

/// Global `g` in the table `G` the module's parts share (`lib.rs`): its value (an i64's low
/// half) and an i64's high half.
pub(crate) fn global(g: u32) -> (String, String) {
    (format!("G[{}]", 2 * g + 1), format!("G[{}]", 2 * g + 2))
}

pub(crate) fn translate(
    m: &Module,
    index: u32,
    body: &FunctionBody<'_>,
    profile: bool,
) -> Result<String, Error> {
    let ty = &m.types[m.funcs[index as usize] as usize];
    let mut types: Vec<ValType> = ty.params().to_vec();
    let params = types.len();
    for local in body.get_locals_reader()? {
        let (count, ty) = local?;
        types.extend(std::iter::repeat_n(ty, count as usize));
    }
    for t in &types {
        if !matches!(t, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64) {
            return Err(unsupported(format_args!("a local of type {t:?}")));
        }
    }
    let mut ops = Vec::new();
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        ops.push(reader.read()?);
    }
    let (targeted, uses) = prepass(&ops, types.len());

    let mut spilled: Vec<usize> = Vec::new();
    loop {
        let mut t = Translator {
            m,
            index,
            profile,
            names: names(&types, params, &spilled),
            types: types.clone(),
            params,
            stack: Vec::new(),
            frames: Vec::new(),
            targeted: targeted.clone(),
            opened: 0,
            skip: 0,
            slots: BTreeSet::new(),
            high_slots: BTreeSet::new(),
            uses_brk: false,
            done: None,
        };
        let code = t.function(&ops, ty.results())?;
        let width = |j: usize| if types[j] == ValType::I64 { 2 } else { 1 };
        let mut count = t.slots.len() + t.high_slots.len() + 2;
        count += (0..types.len())
            .filter(|j| !spilled.contains(j))
            .map(width)
            .sum::<usize>();
        if count <= MAX_LOCALS {
            return Ok(code);
        }
        // Spill the least used locals that are not parameters, and translate again.
        let mut candidates: Vec<usize> = (params..types.len())
            .filter(|j| !spilled.contains(j))
            .collect();
        candidates.sort_by_key(|&j| uses[j]);
        let mut over = count - MAX_LOCALS;
        for j in candidates {
            if over == 0 {
                break;
            }
            spilled.push(j);
            over = over.saturating_sub(width(j));
        }
        if over > 0 {
            return Err(unsupported(
                "a function whose parameters and stack need more than Luau's locals",
            ));
        }
    }
}

/// Which blocks are branch targets, and how often each local is used.
fn prepass(ops: &[Operator<'_>], locals: usize) -> (Vec<bool>, Vec<usize>) {
    let mut targeted = Vec::new();
    let mut uses = vec![0; locals];
    // The open frames' indices into `targeted`; None is the function.
    let mut open: Vec<Option<usize>> = vec![None];
    let mark = |open: &Vec<Option<usize>>, targeted: &mut Vec<bool>, depth: u32| {
        if let Some(Some(i)) = open.get(open.len() - 1 - depth as usize) {
            targeted[*i] = true;
        }
    };
    for op in ops {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                open.push(Some(targeted.len()));
                targeted.push(false);
            }
            Operator::End => {
                open.pop();
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                mark(&open, &mut targeted, *relative_depth)
            }
            Operator::BrTable { targets } => {
                for depth in targets.targets().flatten() {
                    mark(&open, &mut targeted, depth);
                }
                mark(&open, &mut targeted, targets.default());
            }
            Operator::LocalGet { local_index }
            | Operator::LocalSet { local_index }
            | Operator::LocalTee { local_index } => uses[*local_index as usize] += 1,
            _ => {}
        }
    }
    (targeted, uses)
}

fn names(types: &[ValType], params: usize, spilled: &[usize]) -> Vec<(String, String)> {
    let mut next = 1;
    (0..types.len())
        .map(|j| {
            if j >= params && spilled.contains(&j) {
                let name = (format!("R[{next}]"), format!("R[{}]", next + 1));
                next += if types[j] == ValType::I64 { 2 } else { 1 };
                name
            } else {
                (format!("l{j}"), format!("m{j}"))
            }
        })
        .collect()
}

/// An f32 constant, from its bits, as a Luau expression with the same value: a NaN keeps its
/// sign and payload, as the prelude makes it from its bits (a Luau number is a double, so a
/// signalling f32 NaN comes out quiet, as any f32 NaN converted to a double does).
pub(crate) fn f32_const(bits: u32) -> String {
    let x = f32::from_bits(bits);
    if x.is_nan() {
        format!("F32OFI32({bits})")
    } else {
        float(x.into())
    }
}

/// An f64 constant, from its bits, as a Luau expression with the same value: a NaN keeps its
/// sign and payload (`0 / 0` would give whatever NaN the machine makes, 0xFFF8… on x86).
pub(crate) fn f64_const(bits: u64) -> String {
    if f64::from_bits(bits).is_nan() {
        format!("F64OFI64({}, {})", bits as u32, bits >> 32)
    } else {
        float(f64::from_bits(bits))
    }
}

/// A float that is no NaN as a Luau expression with the same value.
pub(crate) fn float(x: f64) -> String {
    debug_assert!(
        !x.is_nan(),
        "NaNs are made from their bits (f32_const, f64_const)"
    );
    if x.is_infinite() {
        if x > 0.0 { "math.huge" } else { "(-math.huge)" }.into()
    } else if x == 0.0 && x.is_sign_negative() {
        "NZ".into()
    } else if x < 0.0 {
        format!("({x:?})")
    } else {
        format!("{x:?}")
    }
}

fn konst(code: &str) -> Option<u64> {
    code.parse().ok()
}

fn slot(p: usize) -> String {
    format!("s{p}")
}

fn high(p: usize) -> String {
    format!("h{p}")
}

impl Translator<'_> {
    fn function(&mut self, ops: &[Operator<'_>], results: &[ValType]) -> Result<String, Error> {
        self.frames.push(Frame {
            kind: Kind::Func,
            wrapped: false,
            escapes: false,
            height: 0,
            params: Vec::new(),
            results: results.to_vec(),
            code: String::new(),
            cond: String::new(),
            then_code: None,
            unreachable: false,
        });
        for op in ops {
            if self.frames.is_empty() {
                return Err(Error("instructions after the function's end".into()));
            }
            self.op(op)?;
        }
        let Some(body) = self.done.take() else {
            return Err(Error("the function has no end".into()));
        };
        let mut out = String::from("function(");
        // Every wasm value is a Luau number: saying so lets native code skip the type checks.
        let params: Vec<String> = (0..self.params)
            .flat_map(|j| self.local_names(j))
            .map(|name| format!("{name}: number"))
            .collect();
        out.push_str(&params.join(", "));
        out.push_str(")\n");
        let mut zeroed: Vec<String> = Vec::new();
        let mut spilled = 0;
        for j in self.params..self.types.len() {
            if self.names[j].0.starts_with('R') {
                spilled += if self.types[j] == ValType::I64 { 2 } else { 1 };
            } else {
                zeroed.extend(self.local_names(j));
            }
        }
        for chunk in zeroed.chunks(40) {
            let zeros = vec!["0"; chunk.len()].join(", ");
            let _ = writeln!(out, "local {} = {zeros}", chunk.join(", "));
        }
        if spilled > 0 {
            let _ = writeln!(out, "local R = table.create({spilled}, 0)");
        }
        let mut temps: Vec<String> = self.slots.iter().map(|&p| slot(p)).collect();
        temps.extend(self.high_slots.iter().map(|&p| high(p)));
        if self.uses_brk {
            temps.push("brk".into());
        }
        for chunk in temps.chunks(40) {
            let _ = writeln!(out, "local {}", chunk.join(", "));
        }
        if self.profile {
            let _ = writeln!(
                out,
                "PROFILE[{}] = (PROFILE[{}] or 0) + 1",
                self.index, self.index
            );
        }
        out.push_str(&body);
        out.push_str("end\n");
        Ok(out)
    }

    fn local_names(&self, j: usize) -> Vec<String> {
        let (lo, hi) = &self.names[j];
        if self.types[j] == ValType::I64 {
            vec![lo.clone(), hi.clone()]
        } else {
            vec![lo.clone()]
        }
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("an open frame")
    }

    fn emit(&mut self, line: &str) {
        let code = &mut self.frame().code;
        code.push_str(line);
        code.push('\n');
    }

    // The stack ------------------------------------------------------------------------------

    fn use_slot(&mut self, p: usize, wide: bool) {
        self.slots.insert(p);
        if wide {
            self.high_slots.insert(p);
        }
    }

    fn slot_deps(p: usize) -> Deps {
        Deps {
            slot: Some(p),
            ..Deps::default()
        }
    }

    /// Stores the value at position `p` into its variables, unless it is there already.
    fn materialize(&mut self, p: usize) {
        let (line, value) = match &self.stack[p] {
            Value::Num { code, .. } if *code == slot(p) => return,
            Value::Wide { lo, hi, .. } if *lo == slot(p) && *hi == high(p) => return,
            Value::Num { code, .. } => (
                format!("{} = {code}", slot(p)),
                Value::Num {
                    code: slot(p),
                    cost: 0,
                    deps: Self::slot_deps(p),
                },
            ),
            Value::Bool { code, .. } => (
                format!("{} = if {code} then 1 else 0", slot(p)),
                Value::Num {
                    code: slot(p),
                    cost: 0,
                    deps: Self::slot_deps(p),
                },
            ),
            Value::Wide { lo, hi, .. } => (
                format!("{}, {} = {lo}, {hi}", slot(p), high(p)),
                Value::Wide {
                    lo: slot(p),
                    hi: high(p),
                    deps: Self::slot_deps(p),
                },
            ),
        };
        let wide = matches!(value, Value::Wide { .. });
        self.use_slot(p, wide);
        self.emit(&line);
        self.stack[p] = value;
    }

    fn materialize_if(&mut self, keep: impl Fn(&Deps) -> bool) {
        for p in 0..self.stack.len() {
            if keep(self.stack[p].deps()) {
                self.materialize(p);
            }
        }
    }

    /// Before a store, call or `memory.*`: pending reads of memory and globals happen first.
    fn settle_memory(&mut self) {
        self.materialize_if(|d| d.memory);
    }

    /// Before control flow: everything that is not a constant goes into its variable.
    fn settle_all(&mut self) {
        self.materialize_if(|d| !d.constant());
    }

    fn pop(&mut self) -> Value {
        self.stack.pop().expect("validated stack")
    }

    /// An i32, f32 or f64 as a number expression.
    fn pop_num(&mut self) -> (String, u32, Deps) {
        match self.pop() {
            Value::Num { code, cost, deps } => (code, cost, deps),
            Value::Bool { code, cost, deps } => {
                (format!("(if {code} then 1 else 0)"), cost + 1, deps)
            }
            Value::Wide { .. } => unreachable!("validated types"),
        }
    }

    /// An i32 as a Luau condition.
    fn pop_cond(&mut self) -> (String, u32, Deps) {
        match self.pop() {
            Value::Bool { code, cost, deps } => (code, cost, deps),
            Value::Num { code, cost, deps } => (format!("{code} ~= 0"), cost + 1, deps),
            Value::Wide { .. } => unreachable!("validated types"),
        }
    }

    /// The top value as an atom (stored into its variable if it is an expression).
    fn pop_atom(&mut self) -> (String, Deps) {
        let p = self.stack.len() - 1;
        if !matches!(&self.stack[p], Value::Num { cost: 0, .. }) {
            self.materialize(p);
        }
        let (code, _, deps) = self.pop_num();
        (code, deps)
    }

    fn pop_wide(&mut self) -> (String, String, Deps) {
        match self.pop() {
            Value::Wide { lo, hi, deps } => (lo, hi, deps),
            _ => unreachable!("validated types"),
        }
    }

    fn push(&mut self, value: Value) {
        let p = self.stack.len();
        let store = match &value {
            Value::Num { cost, deps, .. } | Value::Bool { cost, deps, .. } => {
                *cost > MAX_COST || deps.slot.is_some_and(|s| s > p)
            }
            Value::Wide { deps, .. } => deps.slot.is_some_and(|s| s > p),
        };
        self.stack.push(value);
        if store {
            self.materialize(p);
        }
    }

    fn push_num(&mut self, code: String, cost: u32, deps: Deps) {
        self.push(Value::Num { code, cost, deps });
    }

    fn push_bool(&mut self, code: String, cost: u32, deps: Deps) {
        self.push(Value::Bool { code, cost, deps });
    }

    /// Assigns an i64 result (`rhs` gives both halves) to the next position's variables.
    fn set_wide(&mut self, rhs: &str) {
        let p = self.stack.len();
        self.use_slot(p, true);
        self.emit(&format!("{}, {} = {rhs}", slot(p), high(p)));
        self.stack.push(Value::Wide {
            lo: slot(p),
            hi: high(p),
            deps: Self::slot_deps(p),
        });
    }

    /// An i64 whose high half is zero and whose low half is `lo`.
    fn set_wide_low(&mut self, lo: &str) {
        let p = self.stack.len();
        self.use_slot(p, false);
        self.emit(&format!("{} = {lo}", slot(p)));
        self.stack.push(Value::Wide {
            lo: slot(p),
            hi: "0".into(),
            deps: Self::slot_deps(p),
        });
    }

    fn unary(&mut self, f: impl FnOnce(&str) -> String) {
        let (a, cost, deps) = self.pop_num();
        self.push_num(f(&a), cost + 1, deps);
    }

    fn binary(&mut self, f: impl FnOnce(&str, &str) -> String) {
        let (b, cb, db) = self.pop_num();
        let (a, ca, da) = self.pop_num();
        self.push_num(f(&a, &b), ca + cb + 1, da.merge(&db));
    }

    fn compare(&mut self, f: impl FnOnce(&str, &str) -> String) {
        let (b, cb, db) = self.pop_num();
        let (a, ca, da) = self.pop_num();
        self.push_bool(f(&a, &b), ca + cb + 1, da.merge(&db));
    }

    fn wide_binary(&mut self, f: impl FnOnce(&str, &str, &str, &str) -> String) {
        let (bl, bh, _) = self.pop_wide();
        let (al, ah, _) = self.pop_wide();
        self.set_wide(&f(&al, &ah, &bl, &bh));
    }

    fn wide_compare(&mut self, f: impl FnOnce(&str, &str, &str, &str) -> String) {
        let (bl, bh, db) = self.pop_wide();
        let (al, ah, da) = self.pop_wide();
        self.push_bool(f(&al, &ah, &bl, &bh), 2, da.merge(&db));
    }

    /// The value of the top `n` entries as a Luau expression list (i64s as two).
    fn pop_list(&mut self, types: &[ValType]) -> Vec<String> {
        let mut out = Vec::new();
        for _ in types {
            match self.stack.last() {
                Some(Value::Wide { .. }) => {
                    let (lo, hi, _) = self.pop_wide();
                    out.push(hi);
                    out.push(lo);
                }
                _ => out.push(self.pop_num().0),
            }
        }
        out.reverse();
        out
    }

    /// Variables for results at positions from the current height, pushed as atoms.
    fn push_results(&mut self, types: &[ValType]) -> Vec<String> {
        let mut names = Vec::new();
        for t in types {
            let p = self.stack.len();
            if *t == ValType::I64 {
                self.use_slot(p, true);
                names.push(slot(p));
                names.push(high(p));
                self.stack.push(Value::Wide {
                    lo: slot(p),
                    hi: high(p),
                    deps: Self::slot_deps(p),
                });
            } else {
                self.use_slot(p, false);
                names.push(slot(p));
                self.stack.push(Value::Num {
                    code: slot(p),
                    cost: 0,
                    deps: Self::slot_deps(p),
                });
            }
        }
        names
    }

    // Memory ---------------------------------------------------------------------------------

    fn address(a: &str, memarg: &MemArg) -> String {
        match (konst(a), memarg.offset) {
            (_, 0) => a.to_owned(),
            (Some(c), off) => (c + off).to_string(),
            (None, off) => format!("{a} + {off}"),
        }
    }

    fn load(&mut self, memarg: &MemArg, f: impl FnOnce(&str) -> String) {
        let (a, cost, deps) = self.pop_num();
        let deps = Deps {
            memory: true,
            ..deps
        };
        self.push_num(f(&Self::address(&a, memarg)), cost + 1, deps);
    }

    fn load_wide(&mut self, memarg: &MemArg, f: impl FnOnce(&str) -> String) {
        let (a, _, _) = self.pop_num();
        self.set_wide(&f(&Self::address(&a, memarg)));
    }

    fn store(&mut self, memarg: &MemArg, f: impl FnOnce(&str, &str) -> String) {
        let (v, _, _) = self.pop_num();
        let (a, _, _) = self.pop_num();
        self.settle_memory();
        let line = f(&Self::address(&a, memarg), &v);
        self.emit(&line);
    }

    /// An i64 store: `f` gets the address, the address 4 bytes on, and the halves.
    fn store_wide(&mut self, memarg: &MemArg, f: impl FnOnce(&str, &str, &str, &str) -> String) {
        let (lo, hi, _) = self.pop_wide();
        let (a, _) = self.pop_atom();
        self.settle_memory();
        let a4 = Self::address(
            &a,
            &MemArg {
                offset: memarg.offset + 4,
                ..*memarg
            },
        );
        let line = f(&Self::address(&a, memarg), &a4, &lo, &hi);
        self.emit(&line);
    }

    // Control --------------------------------------------------------------------------------

    fn block_types(&self, ty: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match ty {
            BlockType::Empty => (Vec::new(), Vec::new()),
            BlockType::Type(t) => (Vec::new(), vec![t]),
            BlockType::FuncType(i) => {
                let ty = &self.m.types[i as usize];
                (ty.params().to_vec(), ty.results().to_vec())
            }
        }
    }

    fn open(&mut self, kind: Kind, ty: BlockType, cond: String) -> Result<(), Error> {
        let wrapped = self.targeted[self.opened];
        let nesting =
            |kind: Kind, wrapped: bool| usize::from(wrapped) + usize::from(kind == Kind::If);
        let depth = nesting(kind, wrapped)
            + self
                .frames
                .iter()
                .map(|f| nesting(f.kind, f.wrapped))
                .sum::<usize>();
        if depth > MAX_NESTING {
            return Err(unsupported(format_args!(
                "control flow nested {depth} deep (Luau compiles at most {MAX_NESTING} here)"
            )));
        }
        let (params, results) = self.block_types(ty);
        self.settle_all();
        let height = self.stack.len() - params.len();
        // Parameters live in their variables: branches back to a loop put them there.
        for p in height..self.stack.len() {
            self.force(p);
        }
        self.opened += 1;
        self.frames.push(Frame {
            kind,
            wrapped,
            escapes: false,
            height,
            params,
            results,
            code: String::new(),
            cond,
            then_code: None,
            unreachable: false,
        });
        Ok(())
    }

    /// Stores the value at `p` into its variables even if it is a constant.
    fn force(&mut self, p: usize) {
        let in_place = match &self.stack[p] {
            Value::Num { code, .. } => *code == slot(p),
            Value::Wide { lo, hi, .. } => *lo == slot(p) && *hi == high(p),
            Value::Bool { .. } => false,
        };
        if !in_place {
            // A constant has no deps; give it one so `materialize` stores it.
            self.materialize(p);
        }
    }

    /// Leaves the frame's results in their variables at the end of a reachable branch.
    fn settle_results(&mut self) {
        let frame = self.frames.last().expect("an open frame");
        let from = frame.height;
        let to = from + frame.results.len();
        for p in from..to.min(self.stack.len()) {
            self.force(p);
        }
    }

    fn reset_stack(&mut self, to: usize, types: &[ValType]) {
        self.stack.truncate(to);
        self.push_results(types);
    }

    /// Code for a branch to the frame `depth` levels out: the carried values into the target's
    /// variables, then the jump.
    fn jump(&mut self, depth: u32) -> String {
        let target = self.frames.len() - 1 - depth as usize;
        let frame = &self.frames[target];
        let mut out = String::new();
        if frame.kind == Kind::Func {
            let results = frame.results.clone();
            let values = self.peek_list(&results);
            let _ = write!(out, "return {}", values.join(", "));
            return out;
        }
        let carried = if frame.kind == Kind::Loop {
            frame.params.clone()
        } else {
            frame.results.clone()
        };
        let height = frame.height;
        let values = self.peek_list(&carried);
        let mut names = Vec::new();
        for (k, t) in carried.iter().enumerate() {
            names.push(slot(height + k));
            if *t == ValType::I64 {
                names.push(high(height + k));
                self.use_slot(height + k, true);
            } else {
                self.use_slot(height + k, false);
            }
        }
        if names != values && !names.is_empty() {
            let _ = writeln!(out, "{} = {}", names.join(", "), values.join(", "));
        }
        let innermost = (0..self.frames.len())
            .rev()
            .find(|&i| self.frames[i].wrapped);
        if innermost == Some(target) {
            out.push_str(if self.frames[target].kind == Kind::Loop {
                "continue"
            } else {
                "break"
            });
        } else {
            self.uses_brk = true;
            for frame in &mut self.frames[target + 1..] {
                if frame.wrapped {
                    frame.escapes = true;
                }
            }
            let _ = write!(out, "brk = {target} break");
        }
        out
    }

    /// The top values for `types` as expressions, left on the stack.
    fn peek_list(&mut self, types: &[ValType]) -> Vec<String> {
        let saved = self.stack.clone();
        let list = self.pop_list(types);
        self.stack = saved;
        list
    }

    fn make_unreachable(&mut self) {
        let height = self.frames.last().map_or(0, |f| f.height);
        self.stack.truncate(height);
        self.frame().unreachable = true;
    }

    fn close(&mut self) {
        let frame = self.frames.last().expect("an open frame");
        if !frame.unreachable {
            self.settle_results();
        }
        let mut frame = self.frames.pop().expect("an open frame");
        let reachable_end = !frame.unreachable;
        self.stack.truncate(frame.height);
        if frame.kind == Kind::Func {
            if reachable_end {
                let results = self.push_results_names(&frame.results);
                frame
                    .code
                    .push_str(&format!("return {}\n", results.join(", ")));
            }
            self.done = Some(frame.code);
            return;
        }
        let body = match frame.kind {
            Kind::Block => frame.code,
            Kind::Loop if frame.wrapped => {
                let tail = if reachable_end { "break\n" } else { "" };
                format!("while true do\n{}{tail}end\n", frame.code)
            }
            Kind::Loop => frame.code,
            Kind::If => {
                let (then, otherwise) = match frame.then_code.take() {
                    Some(then) => (then, Some(frame.code)),
                    None => (frame.code, None),
                };
                match otherwise {
                    Some(e) if !e.is_empty() => {
                        format!("if {} then\n{then}else\n{e}end\n", frame.cond)
                    }
                    _ => format!("if {} then\n{then}end\n", frame.cond),
                }
            }
            Kind::Func => unreachable!(),
        };
        let body = if frame.wrapped && frame.kind != Kind::Loop {
            format!("repeat\n{body}until true\n")
        } else {
            body
        };
        self.frame().code.push_str(&body);
        if frame.escapes {
            let outer = (0..self.frames.len())
                .rev()
                .find(|&i| self.frames[i].wrapped)
                .expect("a branch escaping a frame targets an outer wrapped frame");
            let check = if self.frames[outer].kind == Kind::Loop {
                format!("if brk then if brk == {outer} then brk = nil continue end break end")
            } else {
                format!("if brk then if brk == {outer} then brk = nil end break end")
            };
            self.emit(&check);
        }
        self.push_results(&frame.results);
    }

    fn push_results_names(&mut self, types: &[ValType]) -> Vec<String> {
        // At the function's end the results are the values left on the stack, which
        // `settle_results` put into the variables from position 0.
        let mut names = Vec::new();
        for (p, t) in types.iter().enumerate() {
            names.push(slot(p));
            if *t == ValType::I64 {
                names.push(high(p));
            }
        }
        names
    }

    fn br_table(&mut self, targets: &[u32], default: u32) {
        let (index, _) = self.pop_atom();
        // Runs of equal targets: (first index, target depth).
        let mut runs: Vec<(usize, u32)> = Vec::new();
        for (i, &t) in targets.iter().enumerate() {
            if runs.last().is_none_or(|&(_, last)| last != t) {
                runs.push((i, t));
            }
        }
        if runs.last().is_none_or(|&(_, last)| last != default) {
            runs.push((targets.len(), default));
        }
        let code = self.search(&index, &runs);
        self.frame().code.push_str(&code);
    }

    fn search(&mut self, index: &str, runs: &[(usize, u32)]) -> String {
        if runs.len() == 1 {
            let mut code = self.jump(runs[0].1);
            code.push('\n');
            return code;
        }
        let mid = runs.len() / 2;
        let left = self.search(index, &runs[..mid]);
        let right = self.search(index, &runs[mid..]);
        format!(
            "if {index} < {} then\n{left}else\n{right}end\n",
            runs[mid].0
        )
    }

    // Instructions ---------------------------------------------------------------------------

    fn op(&mut self, op: &Operator<'_>) -> Result<(), Error> {
        use Operator as O;
        if self.frames.last().is_some_and(|f| f.unreachable) {
            match op {
                O::Block { .. } | O::Loop { .. } | O::If { .. } => {
                    self.skip += 1;
                    self.opened += 1;
                    return Ok(());
                }
                O::End | O::Else if self.skip > 0 => {
                    if matches!(op, O::End) {
                        self.skip -= 1;
                    }
                    return Ok(());
                }
                O::End | O::Else => {}
                _ => return Ok(()),
            }
        }
        match op {
            O::Nop => {}
            O::Unreachable => {
                self.emit("trap(\"unreachable\")");
                self.make_unreachable();
            }
            O::Block { blockty } => self.open(Kind::Block, *blockty, String::new())?,
            O::Loop { blockty } => self.open(Kind::Loop, *blockty, String::new())?,
            O::If { blockty } => {
                let (cond, _, _) = self.pop_cond();
                self.open(Kind::If, *blockty, cond)?;
            }
            O::Else => {
                if !self.frame().unreachable {
                    self.settle_results();
                }
                let frame = self.frames.last_mut().expect("an open frame");
                frame.then_code = Some(std::mem::take(&mut frame.code));
                frame.unreachable = false;
                let (height, params) = (frame.height, frame.params.clone());
                self.reset_stack(height, &params);
            }
            O::End => self.close(),
            O::Br { relative_depth } => {
                let code = self.jump(*relative_depth);
                self.emit(&code);
                self.make_unreachable();
            }
            O::BrIf { relative_depth } => {
                let (cond, _, _) = self.pop_cond();
                let code = self.jump(*relative_depth);
                self.emit(&format!("if {cond} then\n{code}\nend"));
            }
            O::BrTable { targets } => {
                let list = targets.targets().collect::<Result<Vec<u32>, _>>()?;
                self.br_table(&list, targets.default());
                self.make_unreachable();
            }
            O::Return => {
                let code = self.jump((self.frames.len() - 1) as u32);
                self.emit(&code);
                self.make_unreachable();
            }
            O::Call { function_index } => {
                let f = *function_index as usize;
                self.call(self.m.funcs[f], &format!("F[{}]", f + 1))
            }
            O::CallIndirect {
                type_index,
                table_index: 0,
            } => {
                let (index, _, _) = self.pop_num();
                let canonical = self.m.canonical[*type_index as usize];
                let callee = format!("INDIRECT(TF, TT, {index}, {canonical})");
                self.call(*type_index, &callee);
            }
            O::Drop => {
                self.pop();
            }
            O::Select | O::TypedSelect { .. } => self.select(),
            O::LocalGet { local_index } => {
                let j = *local_index as usize;
                let deps = Deps {
                    locals: vec![*local_index],
                    ..Deps::default()
                };
                let (lo, hi) = self.names[j].clone();
                if self.types[j] == ValType::I64 {
                    self.push(Value::Wide { lo, hi, deps });
                } else {
                    self.push_num(lo, 0, deps);
                }
            }
            O::LocalSet { local_index } | O::LocalTee { local_index } => {
                let j = *local_index as usize;
                let value = self.pop();
                self.materialize_if(|d| d.locals.contains(local_index));
                let (lo, hi) = self.names[j].clone();
                match &value {
                    Value::Wide { lo: vl, hi: vh, .. } => {
                        self.emit(&format!("{lo}, {hi} = {vl}, {vh}"));
                    }
                    _ => {
                        self.stack.push(value);
                        let (code, _, _) = self.pop_num();
                        self.emit(&format!("{lo} = {code}"));
                    }
                }
                if matches!(op, O::LocalTee { .. }) {
                    self.op(&O::LocalGet {
                        local_index: *local_index,
                    })?;
                }
            }
            O::GlobalGet { global_index } => {
                let g = *global_index;
                let deps = Deps {
                    memory: true,
                    ..Deps::default()
                };
                let (lo, hi) = global(g);
                if self.m.globals[g as usize] == ValType::I64 {
                    self.push(Value::Wide { lo, hi, deps });
                } else {
                    self.push_num(lo, 0, deps);
                }
            }
            O::GlobalSet { global_index } => {
                let g = *global_index;
                let value = self.pop();
                self.settle_memory();
                let (glo, ghi) = global(g);
                match value {
                    Value::Wide { lo, hi, .. } => self.emit(&format!("{glo}, {ghi} = {lo}, {hi}")),
                    other => {
                        self.stack.push(other);
                        let (code, _, _) = self.pop_num();
                        self.emit(&format!("{glo} = {code}"));
                    }
                }
            }

            O::I32Load { memarg } => self.load(memarg, |a| format!("buffer.readu32(M, {a})")),
            O::I32Load8U { memarg } => self.load(memarg, |a| format!("buffer.readu8(M, {a})")),
            O::I32Load16U { memarg } => self.load(memarg, |a| format!("buffer.readu16(M, {a})")),
            O::I32Load8S { memarg } => {
                self.load(memarg, |a| format!("(buffer.readi8(M, {a}) % {P32})"))
            }
            O::I32Load16S { memarg } => {
                self.load(memarg, |a| format!("(buffer.readi16(M, {a}) % {P32})"))
            }
            O::F32Load { memarg } => self.load(memarg, |a| format!("buffer.readf32(M, {a})")),
            O::F64Load { memarg } => self.load(memarg, |a| format!("buffer.readf64(M, {a})")),
            O::I64Load { memarg } => {
                let (a, _) = self.pop_atom();
                let a0 = Self::address(&a, memarg);
                let a4 = Self::address(
                    &a,
                    &MemArg {
                        offset: memarg.offset + 4,
                        ..*memarg
                    },
                );
                self.set_wide(&format!("buffer.readu32(M, {a0}), buffer.readu32(M, {a4})"));
            }
            O::I64Load8U { memarg } => {
                let (a, _, _) = self.pop_num();
                self.set_wide_low(&format!("buffer.readu8(M, {})", Self::address(&a, memarg)));
            }
            O::I64Load16U { memarg } => {
                let (a, _, _) = self.pop_num();
                self.set_wide_low(&format!("buffer.readu16(M, {})", Self::address(&a, memarg)));
            }
            O::I64Load32U { memarg } => {
                let (a, _, _) = self.pop_num();
                self.set_wide_low(&format!("buffer.readu32(M, {})", Self::address(&a, memarg)));
            }
            O::I64Load8S { memarg } => {
                self.load_wide(memarg, |a| format!("EXT64(buffer.readi8(M, {a}) % {P32})"))
            }
            O::I64Load16S { memarg } => {
                self.load_wide(memarg, |a| format!("EXT64(buffer.readi16(M, {a}) % {P32})"))
            }
            O::I64Load32S { memarg } => {
                self.load_wide(memarg, |a| format!("EXT64(buffer.readu32(M, {a}))"))
            }
            O::I32Store { memarg } => {
                self.store(memarg, |a, v| format!("buffer.writeu32(M, {a}, {v})"))
            }
            O::I32Store8 { memarg } => {
                self.store(memarg, |a, v| format!("buffer.writeu8(M, {a}, {v})"))
            }
            O::I32Store16 { memarg } => {
                self.store(memarg, |a, v| format!("buffer.writeu16(M, {a}, {v})"))
            }
            O::F32Store { memarg } => {
                self.store(memarg, |a, v| format!("buffer.writef32(M, {a}, {v})"))
            }
            O::F64Store { memarg } => {
                self.store(memarg, |a, v| format!("buffer.writef64(M, {a}, {v})"))
            }
            O::I64Store { memarg } => self.store_wide(memarg, |a0, a4, lo, hi| {
                format!("buffer.writeu32(M, {a0}, {lo}) buffer.writeu32(M, {a4}, {hi})")
            }),
            O::I64Store8 { memarg } => self.store_wide(memarg, |a, _, lo, _| {
                format!("buffer.writeu8(M, {a}, {lo})")
            }),
            O::I64Store16 { memarg } => self.store_wide(memarg, |a, _, lo, _| {
                format!("buffer.writeu16(M, {a}, {lo})")
            }),
            O::I64Store32 { memarg } => self.store_wide(memarg, |a, _, lo, _| {
                format!("buffer.writeu32(M, {a}, {lo})")
            }),
            O::MemorySize { mem: 0 } => self.push_num(
                "SIZE()".into(),
                1,
                Deps {
                    memory: true,
                    ..Deps::default()
                },
            ),
            O::MemoryGrow { mem: 0 } => {
                let (n, _, _) = self.pop_num();
                self.settle_memory();
                let p = self.stack.len();
                self.use_slot(p, false);
                self.emit(&format!("{} = GROW({n})", slot(p)));
                self.push_num(slot(p), 0, Self::slot_deps(p));
            }
            O::MemoryCopy {
                dst_mem: 0,
                src_mem: 0,
            } => {
                let (n, _, _) = self.pop_num();
                let (s, _, _) = self.pop_num();
                let (d, _, _) = self.pop_num();
                self.settle_memory();
                // Luau checks both ranges before it moves a byte, as wasm does.
                self.emit(&format!("buffer.copy(M, {d}, M, {s}, {n})"));
            }
            O::MemoryFill { mem: 0 } => {
                let (n, _, _) = self.pop_num();
                let (v, _, _) = self.pop_num();
                let (d, _, _) = self.pop_num();
                self.settle_memory();
                self.emit(&format!("buffer.fill(M, {d}, {v}, {n})"));
            }

            O::I32Const { value } => self.push_num((*value as u32).to_string(), 0, Deps::default()),
            O::I64Const { value } => {
                let v = *value as u64;
                self.push(Value::Wide {
                    lo: (v as u32).to_string(),
                    hi: ((v >> 32) as u32).to_string(),
                    deps: Deps::default(),
                });
            }
            O::F32Const { value } => self.push_num(f32_const(value.bits()), 0, Deps::default()),
            O::F64Const { value } => self.push_num(f64_const(value.bits()), 0, Deps::default()),

            _ => return self.numeric(op),
        }
        Ok(())
    }

    fn call(&mut self, type_index: u32, callee: &str) {
        let ty = &self.m.types[type_index as usize];
        let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
        let args = self.pop_list(&params);
        self.settle_memory();
        let call = format!("{callee}({})", args.join(", "));
        let names = self.push_results(&results);
        if names.is_empty() {
            self.emit(&call);
        } else {
            self.emit(&format!("{} = {call}", names.join(", ")));
        }
    }

    fn select(&mut self) {
        let (cond, cc, dc) = self.pop_cond();
        if matches!(self.stack.last(), Some(Value::Wide { .. })) {
            let (bl, bh, _) = self.pop_wide();
            let (al, ah, _) = self.pop_wide();
            let p = self.stack.len();
            self.use_slot(p, true);
            let (s, h) = (slot(p), high(p));
            self.emit(&format!(
                "if {cond} then {s}, {h} = {al}, {ah} else {s}, {h} = {bl}, {bh} end"
            ));
            self.stack.push(Value::Wide {
                lo: s,
                hi: h,
                deps: Self::slot_deps(p),
            });
            return;
        }
        let (b, cb, db) = self.pop_num();
        let (a, ca, da) = self.pop_num();
        let deps = da.merge(&db).merge(&dc);
        self.push_num(
            format!("(if {cond} then {a} else {b})"),
            ca + cb + cc + 1,
            deps,
        );
    }
}
