//! The numeric instructions: i32 as expressions on unsigned values, i64 as statements on pairs,
//! floats as Luau arithmetic (f32 rounded after each operation). The helpers they call
//! (`IMUL`, `DIVMOD64`, …) are in `prelude.luau`.

use wasmparser::Operator;

use super::{konst, Translator, Value, P32};
use crate::{unsupported, Error};

// Where an operand is a constant, bit operations become arithmetic: a call of a `bit32` builtin
// is dearer than `%` or `//` (on a VM without fast builtins, several times dearer).

/// i32 → signed order: flipping the sign bit maps -2^31..2^31-1 onto 0..2^32-1 in order.
fn flip(a: &str) -> String {
    match konst(a) {
        Some(c) => (c as u32 ^ 0x8000_0000).to_string(),
        None => format!("(({a} + 2147483648) % {P32})"),
    }
}

/// `a << k` for a constant 0 < k < 32: the bits that stay, moved up.
fn shl_const(a: &str, k: u64) -> String {
    format!("({a} % {} * {})", 1u64 << (32 - k), 1u64 << k)
}

/// `a >> k` (unsigned) for a constant 0 < k < 32.
fn shr_const(a: &str, k: u64) -> String {
    format!("({a} // {})", 1u64 << k)
}

/// An i64 rotated left by a constant 0 <= k < 64, as the two halves' expressions.
fn rotl_const(lo: &str, hi: &str, k: u64) -> String {
    let (lo, hi, k) = if k >= 32 {
        (hi, lo, k - 32)
    } else {
        (lo, hi, k)
    };
    if k == 0 {
        return format!("{lo}, {hi}");
    }
    format!(
        "{} + {}, {} + {}",
        shl_const(lo, k),
        shr_const(hi, 32 - k),
        shl_const(hi, k),
        shr_const(lo, 32 - k)
    )
}

/// `a & c` for a constant `c`.
fn and_const(a: &str, c: u64) -> Option<String> {
    if c == 0xffff_ffff {
        Some(a.to_owned())
    } else if (c + 1).is_power_of_two() {
        Some(format!("({a} % {})", c + 1))
    } else {
        None
    }
}

/// A signed i32 comparison `a cmp b`. Against 0 or -1 (`x < 0`, `x > -1`: the sign bit) one
/// unsigned comparison will do.
fn signed_compare(a: &str, cmp: &str, b: &str) -> String {
    let sign = match (cmp, konst(b)) {
        ("<", Some(0)) | ("<=", Some(0xffff_ffff)) => Some(">="),
        (">=", Some(0)) | (">", Some(0xffff_ffff)) => Some("<"),
        _ => None,
    };
    match sign {
        Some(op) => format!("({a} {op} 2147483648)"),
        None => format!("({} {cmp} {})", flip(a), flip(b)),
    }
}

/// One half of an i64 `band`, `bor` or `bxor` (atoms `a`, `b`). The masks and widenings
/// compilers emit (`x & 0xffffffff`, `x | 0` on a half) need no call.
fn half_bitwise(f: &str, a: &str, b: &str) -> String {
    let folded = match (konst(a), konst(b)) {
        (Some(x), Some(y)) => Some(match f {
            "band" => x & y,
            "bor" => x | y,
            _ => x ^ y,
        })
        .map(|v| v.to_string()),
        (Some(c), None) => half_const(f, b, c),
        (None, Some(c)) => half_const(f, a, c),
        (None, None) => None,
    };
    folded.unwrap_or_else(|| format!("bit32.{f}({a}, {b})"))
}

/// `a f c` for a constant half `c`, where that needs no call.
fn half_const(f: &str, a: &str, c: u64) -> Option<String> {
    match (f, c) {
        ("band", 0) => Some("0".into()),
        ("band", c) => and_const(a, c),
        ("bor" | "bxor", 0) => Some(a.to_owned()),
        ("bor", 0xffff_ffff) => Some(c.to_string()),
        _ => None,
    }
}

impl Translator<'_> {
    pub(super) fn numeric(&mut self, op: &Operator<'_>) -> Result<(), Error> {
        use Operator as O;
        match op {
            // i32 -------------------------------------------------------------------------------
            O::I32Add => self.binary(|a, b| match (konst(a), konst(b)) {
                (Some(x), Some(y)) => ((x + y) % (1 << 32)).to_string(),
                _ => format!("(({a} + {b}) % {P32})"),
            }),
            O::I32Sub => self.binary(|a, b| match (konst(a), konst(b)) {
                (Some(x), Some(y)) => (x.wrapping_sub(y) % (1 << 32)).to_string(),
                _ => format!("(({a} - {b}) % {P32})"),
            }),
            O::I32Mul => self.binary(|a, b| match (konst(a), konst(b)) {
                (Some(x), Some(y)) => ((x * y) % (1 << 32)).to_string(),
                // Below 2^21 times below 2^32 stays below 2^53: exact as a double.
                (Some(c), None) | (None, Some(c)) if c < 1 << 21 => {
                    format!("(({a} * {b}) % {P32})")
                }
                _ => format!("IMUL({a}, {b})"),
            }),
            O::I32DivU => self.binary(|a, b| match konst(b) {
                Some(c) if c != 0 => format!("({a} // {c})"),
                _ => format!("DIVU({a}, {b})"),
            }),
            O::I32RemU => self.binary(|a, b| match konst(b) {
                Some(c) if c != 0 => format!("({a} % {c})"),
                _ => format!("REMU({a}, {b})"),
            }),
            O::I32DivS => self.binary(|a, b| format!("DIVS({a}, {b})")),
            O::I32RemS => self.binary(|a, b| format!("REMS({a}, {b})")),
            O::I32And => {
                let n = self.stack.len();
                let masked = match (&self.stack[n - 2], &self.stack[n - 1]) {
                    (Value::Num { .. }, Value::Num { code, .. }) => konst(code),
                    _ => None,
                };
                match masked.and_then(|c| and_const("_", c)) {
                    Some(_) => self.binary(|a, b| and_const(a, konst(b).unwrap()).unwrap()),
                    None => self.logic("band", "and"),
                }
            }
            O::I32Or => self.logic("bor", "or"),
            O::I32Xor => self.binary(|a, b| format!("bit32.bxor({a}, {b})")),
            O::I32Shl => self.shift("lshift"),
            O::I32ShrU => self.shift("rshift"),
            O::I32ShrS => self.shift("arshift"),
            O::I32Rotl => self.shift("lrotate"),
            O::I32Rotr => self.shift("rrotate"),
            O::I32Clz => self.unary(|a| format!("bit32.countlz({a})")),
            O::I32Ctz => self.unary(|a| format!("bit32.countrz({a})")),
            O::I32Popcnt => self.unary(|a| format!("POPCNT({a})")),
            O::I32Eqz => match self.pop() {
                Value::Bool { code, cost, deps } => {
                    self.push_bool(format!("(not {code})"), cost + 1, deps)
                }
                Value::Num { code, cost, deps } => {
                    self.push_bool(format!("({code} == 0)"), cost + 1, deps)
                }
                Value::Wide { .. } => unreachable!("validated types"),
            },
            O::I32Eq => self.compare(|a, b| format!("({a} == {b})")),
            O::I32Ne => self.compare(|a, b| format!("({a} ~= {b})")),
            O::I32LtU => self.compare(|a, b| format!("({a} < {b})")),
            O::I32GtU => self.compare(|a, b| format!("({a} > {b})")),
            O::I32LeU => self.compare(|a, b| format!("({a} <= {b})")),
            O::I32GeU => self.compare(|a, b| format!("({a} >= {b})")),
            O::I32LtS => self.compare(|a, b| signed_compare(a, "<", b)),
            O::I32GtS => self.compare(|a, b| signed_compare(a, ">", b)),
            O::I32LeS => self.compare(|a, b| signed_compare(a, "<=", b)),
            O::I32GeS => self.compare(|a, b| signed_compare(a, ">=", b)),
            // (a + 2^(n-1)) mod 2^n is the signed value plus 2^(n-1); the rest moves it to u32.
            O::I32Extend8S => self.unary(|a| format!("((({a} + 128) % 256 + 4294967168) % {P32})")),
            O::I32Extend16S => {
                self.unary(|a| format!("((({a} + 32768) % 65536 + 4294934528) % {P32})"))
            }
            O::I32WrapI64 => {
                let (lo, _, deps) = self.pop_wide();
                self.push_num(lo, 0, deps);
            }
            O::I32TruncF32S | O::I32TruncF64S => self.unary(|a| format!("I32S({a}, false)")),
            O::I32TruncF32U | O::I32TruncF64U => self.unary(|a| format!("I32U({a}, false)")),
            O::I32TruncSatF32S | O::I32TruncSatF64S => self.unary(|a| format!("I32S({a}, true)")),
            O::I32TruncSatF32U | O::I32TruncSatF64U => self.unary(|a| format!("I32U({a}, true)")),
            O::I32ReinterpretF32 => self.unary(|a| format!("I32OFF32({a})")),

            // i64 -------------------------------------------------------------------------------
            O::I64Add => self.wide_binary(|al, ah, bl, bh| {
                format!("({al} + {bl}) % {P32}, ({ah} + {bh} + ({al} + {bl}) // {P32}) % {P32}")
            }),
            O::I64Sub => self.wide_binary(|al, ah, bl, bh| {
                format!(
                    "({al} - {bl}) % {P32}, ({ah} - {bh} - (if {al} < {bl} then 1 else 0)) % {P32}"
                )
            }),
            O::I64Mul => {
                self.wide_binary(|al, ah, bl, bh| format!("MUL64({al}, {ah}, {bl}, {bh})"))
            }
            O::I64DivU => {
                self.wide_binary(|al, ah, bl, bh| format!("DIVU64({al}, {ah}, {bl}, {bh})"))
            }
            O::I64DivS => {
                self.wide_binary(|al, ah, bl, bh| format!("DIVS64({al}, {ah}, {bl}, {bh})"))
            }
            O::I64RemU => {
                self.wide_binary(|al, ah, bl, bh| format!("REMU64({al}, {ah}, {bl}, {bh})"))
            }
            O::I64RemS => {
                self.wide_binary(|al, ah, bl, bh| format!("REMS64({al}, {ah}, {bl}, {bh})"))
            }
            O::I64And | O::I64Or | O::I64Xor => {
                let f = match op {
                    O::I64And => "band",
                    O::I64Or => "bor",
                    _ => "bxor",
                };
                self.wide_binary(|al, ah, bl, bh| {
                    format!("{}, {}", half_bitwise(f, al, bl), half_bitwise(f, ah, bh))
                })
            }
            O::I64Shl => self.wide_binary(|al, ah, bl, _| match konst(bl).map(|k| k % 64) {
                Some(0) => format!("{al}, {ah}"),
                Some(k) if k < 32 => format!(
                    "{}, {} + {}",
                    shl_const(al, k),
                    shl_const(ah, k),
                    shr_const(al, 32 - k)
                ),
                Some(32) => format!("0, {al}"),
                Some(k) => format!("0, {}", shl_const(al, k - 32)),
                None => format!("SHL64({al}, {ah}, {bl})"),
            }),
            O::I64ShrU => self.wide_binary(|al, ah, bl, _| match konst(bl).map(|k| k % 64) {
                Some(0) => format!("{al}, {ah}"),
                Some(k) if k < 32 => format!(
                    "{} + {}, {}",
                    shr_const(al, k),
                    shl_const(ah, 32 - k),
                    shr_const(ah, k)
                ),
                Some(32) => format!("{ah}, 0"),
                Some(k) => format!("{}, 0", shr_const(ah, k - 32)),
                None => format!("SHRU64({al}, {ah}, {bl})"),
            }),
            O::I64ShrS => self.wide_binary(|al, ah, bl, _| match konst(bl).map(|k| k % 64) {
                Some(0) => format!("{al}, {ah}"),
                Some(k) if k < 32 => format!(
                    "{} + {}, bit32.arshift({ah}, {k})",
                    shr_const(al, k),
                    shl_const(ah, 32 - k)
                ),
                Some(k) => format!("bit32.arshift({ah}, {}), bit32.arshift({ah}, 31)", k - 32),
                None => format!("SHRS64({al}, {ah}, {bl})"),
            }),
            O::I64Rotl | O::I64Rotr => {
                let left = matches!(op, O::I64Rotl);
                self.wide_binary(|al, ah, bl, _| match konst(bl).map(|k| k % 64) {
                    Some(k) => rotl_const(al, ah, if left { k } else { (64 - k) % 64 }),
                    None if left => format!("ROTL64({al}, {ah}, {bl})"),
                    None => format!("ROTR64({al}, {ah}, {bl})"),
                })
            }
            O::I64Clz => {
                let (lo, hi, _) = self.pop_wide();
                self.set_wide_low(&format!("CLZ64({lo}, {hi})"));
            }
            O::I64Ctz => {
                let (lo, hi, _) = self.pop_wide();
                self.set_wide_low(&format!("CTZ64({lo}, {hi})"));
            }
            O::I64Popcnt => {
                let (lo, hi, _) = self.pop_wide();
                self.set_wide_low(&format!("POPCNT({lo}) + POPCNT({hi})"));
            }
            O::I64Eqz => {
                let (lo, hi, deps) = self.pop_wide();
                self.push_bool(format!("({lo} == 0 and {hi} == 0)"), 2, deps);
            }
            O::I64Eq => {
                self.wide_compare(|al, ah, bl, bh| format!("({al} == {bl} and {ah} == {bh})"))
            }
            O::I64Ne => {
                self.wide_compare(|al, ah, bl, bh| format!("({al} ~= {bl} or {ah} ~= {bh})"))
            }
            O::I64LtU => self.wide_order("<", false),
            O::I64GtU => self.wide_order(">", false),
            O::I64LeU => self.wide_order("<=", false),
            O::I64GeU => self.wide_order(">=", false),
            O::I64LtS => self.wide_order("<", true),
            O::I64GtS => self.wide_order(">", true),
            O::I64LeS => self.wide_order("<=", true),
            O::I64GeS => self.wide_order(">=", true),
            O::I64Extend8S => self.wide_unary(|lo, _| format!("EXT64(EXT8({lo}))")),
            O::I64Extend16S => self.wide_unary(|lo, _| format!("EXT64(EXT16({lo}))")),
            O::I64Extend32S => self.wide_unary(|lo, _| format!("EXT64({lo})")),
            O::I64ExtendI32U => match self.stack.last() {
                Some(Value::Num { cost: 0, .. }) => {
                    let (lo, _, deps) = self.pop_num();
                    self.push(Value::Wide {
                        lo,
                        hi: "0".into(),
                        deps,
                    });
                }
                _ => {
                    let (lo, _, _) = self.pop_num();
                    self.set_wide_low(&lo);
                }
            },
            O::I64ExtendI32S => {
                let (a, _, _) = self.pop_num();
                self.set_wide(&format!("EXT64({a})"));
            }
            O::I64TruncF32S | O::I64TruncF64S => self.wide_from_float("I64S({a}, false)"),
            O::I64TruncF32U | O::I64TruncF64U => self.wide_from_float("I64U({a}, false)"),
            O::I64TruncSatF32S | O::I64TruncSatF64S => self.wide_from_float("I64S({a}, true)"),
            O::I64TruncSatF32U | O::I64TruncSatF64U => self.wide_from_float("I64U({a}, true)"),
            O::I64ReinterpretF64 => self.wide_from_float("I64OFF64({a})"),

            // Floats ----------------------------------------------------------------------------
            O::F64Add => self.binary(|a, b| format!("({a} + {b})")),
            O::F64Sub => self.binary(|a, b| format!("({a} - {b})")),
            O::F64Mul => self.binary(|a, b| format!("({a} * {b})")),
            O::F64Div => self.binary(|a, b| format!("({a} / {b})")),
            O::F32Add => self.binary(|a, b| format!("F32({a} + {b})")),
            O::F32Sub => self.binary(|a, b| format!("F32({a} - {b})")),
            O::F32Mul => self.binary(|a, b| format!("F32({a} * {b})")),
            O::F32Div => self.binary(|a, b| format!("F32({a} / {b})")),
            O::F64Min | O::F32Min => self.binary(|a, b| format!("FMIN({a}, {b})")),
            O::F64Max | O::F32Max => self.binary(|a, b| format!("FMAX({a}, {b})")),
            O::F64Copysign | O::F32Copysign => self.binary(|a, b| format!("COPYSIGN({a}, {b})")),
            O::F64Sqrt => self.unary(|a| format!("math.sqrt({a})")),
            O::F32Sqrt => self.unary(|a| format!("F32(math.sqrt({a}))")),
            O::F64Abs | O::F32Abs => self.unary(|a| format!("math.abs({a})")),
            O::F64Neg | O::F32Neg => self.unary(|a| format!("(-{a})")),
            O::F64Ceil | O::F32Ceil => self.unary(|a| format!("math.ceil({a})")),
            O::F64Floor | O::F32Floor => self.unary(|a| format!("math.floor({a})")),
            O::F64Trunc | O::F32Trunc => self.unary(|a| format!("TRUNC({a})")),
            O::F64Nearest | O::F32Nearest => self.unary(|a| format!("NEAREST({a})")),
            O::F64Eq | O::F32Eq => self.compare(|a, b| format!("({a} == {b})")),
            O::F64Ne | O::F32Ne => self.compare(|a, b| format!("({a} ~= {b})")),
            O::F64Lt | O::F32Lt => self.compare(|a, b| format!("({a} < {b})")),
            O::F64Gt | O::F32Gt => self.compare(|a, b| format!("({a} > {b})")),
            O::F64Le | O::F32Le => self.compare(|a, b| format!("({a} <= {b})")),
            O::F64Ge | O::F32Ge => self.compare(|a, b| format!("({a} >= {b})")),
            O::F64ConvertI32U | O::F64PromoteF32 => {}
            O::F64ConvertI32S => self.unary(|a| format!("S32({a})")),
            O::F32ConvertI32U | O::F32DemoteF64 => self.unary(|a| format!("F32({a})")),
            O::F32ConvertI32S => self.unary(|a| format!("F32(S32({a}))")),
            O::F64ConvertI64U => {
                let (lo, hi, deps) = self.pop_wide();
                self.push_num(format!("({hi} * {P32} + {lo})"), 2, deps);
            }
            O::F64ConvertI64S => {
                let (lo, hi, deps) = self.pop_wide();
                self.push_num(format!("F64S({lo}, {hi})"), 2, deps);
            }
            O::F32ConvertI64U | O::F32ConvertI64S => {
                let signed = matches!(op, O::F32ConvertI64S);
                let (lo, hi, deps) = self.pop_wide();
                self.push_num(format!("F32FROM64({lo}, {hi}, {signed})"), 2, deps);
            }
            O::F64ReinterpretI64 => {
                let (lo, hi, deps) = self.pop_wide();
                self.push_num(format!("F64OFI64({lo}, {hi})"), 2, deps);
            }
            O::F32ReinterpretI32 => self.unary(|a| format!("F32OFI32({a})")),
            other => return Err(unsupported(format_args!("the instruction {other:?}"))),
        }
        Ok(())
    }

    /// `and`/`or`: on two comparisons, the Luau boolean operator; otherwise the bitwise one.
    fn logic(&mut self, bitwise: &str, boolean: &str) {
        let n = self.stack.len();
        if let [Value::Bool { .. }, Value::Bool { .. }] = &self.stack[n - 2..] {
            let Value::Bool {
                code: b,
                cost: cb,
                deps: db,
            } = self.pop()
            else {
                unreachable!()
            };
            let Value::Bool {
                code: a,
                cost: ca,
                deps: da,
            } = self.pop()
            else {
                unreachable!()
            };
            self.push_bool(format!("({a} {boolean} {b})"), ca + cb + 1, da.merge(&db));
        } else {
            self.binary(|a, b| format!("bit32.{bitwise}({a}, {b})"));
        }
    }

    /// A shift or rotate by the count modulo 32, as wasm takes it.
    fn shift(&mut self, f: &str) {
        self.binary(|a, b| match (konst(b).map(|c| c % 32), f) {
            (Some(0), _) => a.to_owned(),
            (Some(k), "lshift") => shl_const(a, k),
            (Some(k), "rshift") => shr_const(a, k),
            (Some(k), _) => format!("bit32.{f}({a}, {k})"),
            (None, _) => format!("bit32.{f}({a}, {b} % 32)"),
        });
    }

    fn wide_unary(&mut self, f: impl FnOnce(&str, &str) -> String) {
        let (lo, hi, _) = self.pop_wide();
        self.set_wide(&f(&lo, &hi));
    }

    fn wide_from_float(&mut self, pattern: &str) {
        let (a, _, _) = self.pop_num();
        self.set_wide(&pattern.replace("{a}", &a));
    }

    /// An i64 ordering: the high halves decide unless equal (signed: as flipped i32s).
    fn wide_order(&mut self, cmp: &str, signed: bool) {
        self.wide_compare(|al, ah, bl, bh| {
            let (fa, fb) = if signed {
                (flip(ah), flip(bh))
            } else {
                (ah.to_owned(), bh.to_owned())
            };
            let strict = cmp.trim_end_matches('=');
            format!("(if {ah} == {bh} then {al} {cmp} {bl} else {fa} {strict} {fb})")
        });
    }
}
