//! Each instruction family the translator supports, as small modules run on wasmi and, translated,
//! on Luau, compared on edge values and a deterministic spread of others (spec-test style: the
//! reference is the interpreter, not our reading of the spec).

mod support;

use std::fmt::Write as _;

use support::{f32v, f64s, f64v, halves, i32s, i64s, Bits, Both, Outcome, JOIN};
use wasmi::Val;

fn module(funcs: &str) -> String {
    format!("(module (memory (export \"memory\") 1 4) {JOIN} {funcs})")
}

/// `(func (export "op") (param i32 i32) (result i32) (op a b))` for each op.
fn i32_binary(ops: &[&str]) -> String {
    let mut s = String::new();
    for op in ops {
        let _ = write!(
            s,
            "(func (export \"{op}\") (param i32 i32) (result i32) ({op} (local.get 0) (local.get 1)))"
        );
    }
    s
}

#[test]
fn i32_arithmetic_wraps_and_compares_like_wasm() {
    let ops = [
        "i32.add",
        "i32.sub",
        "i32.mul",
        "i32.and",
        "i32.or",
        "i32.xor",
        "i32.shl",
        "i32.shr_s",
        "i32.shr_u",
        "i32.rotl",
        "i32.rotr",
        "i32.eq",
        "i32.ne",
        "i32.lt_s",
        "i32.lt_u",
        "i32.gt_s",
        "i32.gt_u",
        "i32.le_s",
        "i32.le_u",
        "i32.ge_s",
        "i32.ge_u",
    ];
    let mut both = Both::new(&module(&i32_binary(&ops)));
    let values = i32s();
    for op in ops {
        for &a in &values {
            for &b in &values {
                both.check(op, &[Val::I32(a as i32), Val::I32(b as i32)]);
            }
        }
    }
    assert!(both.calls > 10_000);
}

#[test]
fn i32_division_and_remainder_trap_on_zero_and_overflow() {
    let ops = ["i32.div_s", "i32.div_u", "i32.rem_s", "i32.rem_u"];
    let mut both = Both::new(&module(&i32_binary(&ops)));
    for op in ops {
        for &a in &i32s() {
            for &b in &i32s() {
                both.check(op, &[Val::I32(a as i32), Val::I32(b as i32)]);
            }
        }
    }
    assert_eq!(
        both.check("i32.div_s", &[Val::I32(i32::MIN), Val::I32(-1)]),
        Outcome::Trap("integer overflow")
    );
    assert_eq!(
        both.check("i32.rem_u", &[Val::I32(5), Val::I32(0)]),
        Outcome::Trap("division by zero")
    );
}

#[test]
fn i32_with_constant_operands_takes_the_short_paths_exactly() {
    // The translator specialises constants: small multipliers, divisors, shift counts.
    let mut funcs = String::new();
    let cases = [
        ("mul_small", "i32.mul", "12345"),
        ("mul_big", "i32.mul", "0x9E3779B9"),
        ("mul_edge", "i32.mul", "0x1FFFFF"),
        ("div_10", "i32.div_u", "10"),
        ("rem_7", "i32.rem_u", "7"),
        ("shl_33", "i32.shl", "33"),
        ("shr_s_31", "i32.shr_s", "31"),
        ("rotl_40", "i32.rotl", "40"),
        ("lt_s_neg", "i32.lt_s", "-5"),
        ("lt_s_0", "i32.lt_s", "0"),
        ("ge_s_0", "i32.ge_s", "0"),
        ("gt_s_minus_1", "i32.gt_s", "-1"),
        ("le_s_minus_1", "i32.le_s", "-1"),
        ("gt_s_0", "i32.gt_s", "0"),
        ("le_s_0", "i32.le_s", "0"),
        ("add_neg", "i32.add", "-16"),
    ];
    for (name, op, c) in cases {
        let _ = write!(
            funcs,
            "(func (export \"{name}\") (param i32) (result i32) ({op} (local.get 0) (i32.const {c})))"
        );
    }
    let mut both = Both::new(&module(&funcs));
    for (name, _, _) in cases {
        for &a in &i32s() {
            both.check(name, &[Val::I32(a as i32)]);
        }
    }
}

#[test]
fn i32_unary_bit_counts_and_sign_extension() {
    let ops = [
        "i32.clz",
        "i32.ctz",
        "i32.popcnt",
        "i32.eqz",
        "i32.extend8_s",
        "i32.extend16_s",
    ];
    let mut funcs = String::new();
    for op in ops {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32) (result i32) ({op} (local.get 0)))"
        );
    }
    let mut both = Both::new(&module(&funcs));
    for op in ops {
        for &a in &i32s() {
            both.check(op, &[Val::I32(a as i32)]);
        }
    }
}

#[test]
fn i64_arithmetic_is_exact_on_the_whole_range() {
    let binary = [
        "i64.add",
        "i64.sub",
        "i64.mul",
        "i64.div_s",
        "i64.div_u",
        "i64.rem_s",
        "i64.rem_u",
        "i64.and",
        "i64.or",
        "i64.xor",
        "i64.shl",
        "i64.shr_s",
        "i64.shr_u",
        "i64.rotl",
        "i64.rotr",
    ];
    let compare = [
        "i64.eq", "i64.ne", "i64.lt_s", "i64.lt_u", "i64.gt_s", "i64.gt_u", "i64.le_s", "i64.le_u",
        "i64.ge_s", "i64.ge_u",
    ];
    let mut funcs = String::new();
    for op in binary {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32 i32 i32 i32) (result i32 i32)
               (call $split ({op} (call $join (local.get 0) (local.get 1))
                                  (call $join (local.get 2) (local.get 3)))))"
        );
    }
    for op in compare {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32 i32 i32 i32) (result i32)
               ({op} (call $join (local.get 0) (local.get 1))
                     (call $join (local.get 2) (local.get 3))))"
        );
    }
    let mut both = Both::new(&module(&funcs));
    let values = i64s();
    for op in binary.iter().chain(&compare) {
        for &a in &values {
            for &b in &values {
                let [al, ah] = halves(a);
                let [bl, bh] = halves(b);
                both.check(op, &[al, ah, bl, bh]);
            }
        }
    }
}

#[test]
fn i64_bitwise_with_constant_halves_takes_the_short_paths_exactly() {
    // A half that is 0, all ones or a low mask needs no `bit32` call: each case on both sides.
    let constants = [
        "0",
        "-1",
        "0xffffffff",
        "0xffffffff00000000",
        "0x7fffffff",
        "0xff00000000",
        "0x123456789",
        "0x8000000000000001",
    ];
    let mut funcs = String::new();
    for op in ["i64.and", "i64.or", "i64.xor"] {
        for (k, c) in constants.iter().enumerate() {
            let _ = write!(
                funcs,
                "(func (export \"{op}_{k}\") (param i32 i32) (result i32 i32)
                   (call $split ({op} (call $join (local.get 0) (local.get 1)) (i64.const {c}))))
                 (func (export \"{op}_{k}_left\") (param i32 i32) (result i32 i32)
                   (call $split ({op} (i64.const {c}) (call $join (local.get 0) (local.get 1)))))"
            );
        }
    }
    let mut both = Both::new(&module(&funcs));
    for &a in &i64s() {
        let args = halves(a);
        for op in ["i64.and", "i64.or", "i64.xor"] {
            for k in 0..constants.len() {
                both.check(&format!("{op}_{k}"), &args);
                both.check(&format!("{op}_{k}_left"), &args);
            }
        }
    }
}

#[test]
fn i64_unary_and_constant_shifts() {
    let unary = [
        "i64.clz",
        "i64.ctz",
        "i64.popcnt",
        "i64.extend8_s",
        "i64.extend16_s",
        "i64.extend32_s",
    ];
    let mut funcs = String::new();
    for op in unary {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32 i32) (result i32 i32)
               (call $split ({op} (call $join (local.get 0) (local.get 1)))))"
        );
    }
    funcs.push_str(
        "(func (export \"i64.eqz\") (param i32 i32) (result i32)
           (i64.eqz (call $join (local.get 0) (local.get 1))))
         (func (export \"extend_s\") (param i32) (result i32 i32)
           (call $split (i64.extend_i32_s (local.get 0))))
         (func (export \"extend_u\") (param i32) (result i32 i32)
           (call $split (i64.extend_i32_u (local.get 0))))",
    );
    let shifts = [0, 1, 5, 31, 32, 33, 63, 64, 69];
    for op in ["i64.shl", "i64.shr_s", "i64.shr_u", "i64.rotl", "i64.rotr"] {
        for k in shifts {
            let _ = write!(
                funcs,
                "(func (export \"{op}_{k}\") (param i32 i32) (result i32 i32)
                   (call $split ({op} (call $join (local.get 0) (local.get 1)) (i64.const {k}))))"
            );
        }
    }
    let mut both = Both::new(&module(&funcs));
    for &a in &i64s() {
        let args = halves(a);
        for op in unary.iter().chain(&["i64.eqz"]) {
            both.check(op, &args);
        }
        for op in ["i64.shl", "i64.shr_s", "i64.shr_u", "i64.rotl", "i64.rotr"] {
            for k in shifts {
                both.check(&format!("{op}_{k}"), &args);
            }
        }
    }
    for &a in &i32s() {
        both.check("extend_s", &[Val::I32(a as i32)]);
        both.check("extend_u", &[Val::I32(a as i32)]);
    }
}

#[test]
fn f64_arithmetic_keeps_nan_negative_zero_and_rounding() {
    let binary = [
        "f64.add",
        "f64.sub",
        "f64.mul",
        "f64.div",
        "f64.min",
        "f64.max",
        "f64.copysign",
    ];
    let compare = ["f64.eq", "f64.ne", "f64.lt", "f64.gt", "f64.le", "f64.ge"];
    let unary = [
        "f64.abs",
        "f64.neg",
        "f64.sqrt",
        "f64.ceil",
        "f64.floor",
        "f64.trunc",
        "f64.nearest",
    ];
    let mut funcs = String::new();
    for op in binary {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param f64 f64) (result f64) ({op} (local.get 0) (local.get 1)))"
        );
    }
    for op in compare {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param f64 f64) (result i32) ({op} (local.get 0) (local.get 1)))"
        );
    }
    for op in unary {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param f64) (result f64) ({op} (local.get 0)))"
        );
    }
    let mut both = Both::new(&module(&funcs));
    let values = f64s();
    for &a in &values {
        for op in unary {
            both.check(op, &[f64v(a)]);
        }
        for &b in &values {
            for op in binary.iter().chain(&compare) {
                both.check(op, &[f64v(a), f64v(b)]);
            }
        }
    }
}

#[test]
fn f32_arithmetic_rounds_to_single_precision() {
    let binary = [
        "f32.add", "f32.sub", "f32.mul", "f32.div", "f32.min", "f32.max",
    ];
    let mut funcs = String::new();
    for op in binary {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param f32 f32) (result f32) ({op} (local.get 0) (local.get 1)))"
        );
    }
    for op in ["f32.sqrt", "f32.nearest", "f32.trunc", "f32.neg"] {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param f32) (result f32) ({op} (local.get 0)))"
        );
    }
    funcs.push_str(
        "(func (export \"demote\") (param f64) (result f32) (f32.demote_f64 (local.get 0)))
         (func (export \"promote\") (param f32) (result f64) (f64.promote_f32 (local.get 0)))",
    );
    let mut both = Both::new(&module(&funcs));
    let values: Vec<f32> = f64s()
        .into_iter()
        .map(|x| x as f32)
        .chain([0.1, 1.0e-40, 16777217.0, 3.4e38, 1.1754942e-38])
        .collect();
    for &a in &values {
        for op in ["f32.sqrt", "f32.nearest", "f32.trunc", "f32.neg"] {
            both.check(op, &[f32v(a)]);
        }
        both.check("promote", &[f32v(a)]);
        for &b in &values {
            for op in binary {
                both.check(op, &[f32v(a), f32v(b)]);
            }
        }
    }
    for &x in &f64s() {
        both.check("demote", &[f64v(x)]);
    }
}

#[test]
fn nan_constants_keep_their_bits() {
    // Results compare any NaN alike, so each constant comes back as its bits: from an instruction,
    // from a global's initialiser, and through memory. (A Luau number is a double, so only quiet
    // f32 NaNs are here: a signalling one comes out quiet, as in any f32-to-double conversion.)
    let f64s = [
        "nan",
        "-nan",
        "nan:0x4000000000001",
        "-nan:0x8000000000001",
        "nan:0x1",
        "-nan:0xfffffffffffff",
    ];
    let f32s = ["nan", "-nan", "nan:0x400001", "-nan:0x7fffff"];
    let mut funcs = String::new();
    for (k, c) in f64s.iter().enumerate() {
        let _ = write!(
            funcs,
            "(global $f64_{k} f64 (f64.const {c}))
             (func (export \"f64_{k}\") (result i32 i32)
               (call $split (i64.reinterpret_f64 (f64.const {c}))))
             (func (export \"f64_global_{k}\") (result i32 i32)
               (call $split (i64.reinterpret_f64 (global.get $f64_{k}))))
             (func (export \"f64_memory_{k}\") (result i32 i32)
               (f64.store (i32.const 8) (f64.const {c}))
               (call $split (i64.load (i32.const 8))))"
        );
    }
    for (k, c) in f32s.iter().enumerate() {
        let _ = write!(
            funcs,
            "(global $f32_{k} f32 (f32.const {c}))
             (func (export \"f32_{k}\") (result i32) (i32.reinterpret_f32 (f32.const {c})))
             (func (export \"f32_global_{k}\") (result i32)
               (i32.reinterpret_f32 (global.get $f32_{k})))
             (func (export \"f32_memory_{k}\") (result i32)
               (f32.store (i32.const 8) (f32.const {c}))
               (i32.load (i32.const 8)))"
        );
    }
    let mut both = Both::new(&module(&funcs));
    for k in 0..f64s.len() {
        for f in ["f64", "f64_global", "f64_memory"] {
            both.check(&format!("{f}_{k}"), &[]);
        }
    }
    for k in 0..f32s.len() {
        for f in ["f32", "f32_global", "f32_memory"] {
            both.check(&format!("{f}_{k}"), &[]);
        }
    }
    // The wasm's own bits, not merely the same on both sides.
    assert_eq!(
        both.check("f64_1", &[]),
        Outcome::Values(vec![Bits::I32(0), Bits::I32(0xfff8_0000)])
    );
    assert_eq!(
        both.check("f32_2", &[]),
        Outcome::Values(vec![Bits::I32(0x7fc0_0001)])
    );
}

#[test]
fn conversions_truncate_saturate_and_trap_like_wasm() {
    let from_f64 = [
        ("i32.trunc_f64_s", "i32"),
        ("i32.trunc_f64_u", "i32"),
        ("i32.trunc_sat_f64_s", "i32"),
        ("i32.trunc_sat_f64_u", "i32"),
        ("i64.trunc_f64_s", "i64"),
        ("i64.trunc_f64_u", "i64"),
        ("i64.trunc_sat_f64_s", "i64"),
        ("i64.trunc_sat_f64_u", "i64"),
        ("i64.reinterpret_f64", "i64"),
    ];
    let mut funcs = String::new();
    for (op, ty) in from_f64 {
        if ty == "i32" {
            let _ = write!(
                funcs,
                "(func (export \"{op}\") (param f64) (result i32) ({op} (local.get 0)))"
            );
        } else {
            let _ = write!(
                funcs,
                "(func (export \"{op}\") (param f64) (result i32 i32) (call $split ({op} (local.get 0))))"
            );
        }
    }
    for op in [
        "f64.convert_i64_s",
        "f64.convert_i64_u",
        "f64.reinterpret_i64",
    ] {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32 i32) (result f64) ({op} (call $join (local.get 0) (local.get 1))))"
        );
    }
    for op in ["f32.convert_i64_s", "f32.convert_i64_u"] {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32 i32) (result f32) ({op} (call $join (local.get 0) (local.get 1))))"
        );
    }
    for (op, result) in [
        ("f64.convert_i32_s", "f64"),
        ("f64.convert_i32_u", "f64"),
        ("f32.convert_i32_s", "f32"),
        ("f32.convert_i32_u", "f32"),
        ("f32.reinterpret_i32", "f32"),
    ] {
        let _ = write!(
            funcs,
            "(func (export \"{op}\") (param i32) (result {result}) ({op} (local.get 0)))"
        );
    }
    funcs.push_str(
        "(func (export \"i32.reinterpret_f32\") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
         (func (export \"i32.trunc_sat_f32_u\") (param f32) (result i32) (i32.trunc_sat_f32_u (local.get 0)))",
    );
    let mut both = Both::new(&module(&funcs));
    for &x in &f64s() {
        for (op, _) in from_f64 {
            both.check(op, &[f64v(x)]);
        }
        both.check("i32.reinterpret_f32", &[f32v(x as f32)]);
        both.check("i32.trunc_sat_f32_u", &[f32v(x as f32)]);
    }
    // Rounding to f32 from above 2^53 needs the sticky bit.
    let mut wide = i64s();
    wide.extend([
        0x0020_0000_2000_0001,
        0x7fff_ff80_0000_0001,
        -0x0020_0000_1000_0001,
    ]);
    for &v in &wide {
        for op in [
            "f64.convert_i64_s",
            "f64.convert_i64_u",
            "f64.reinterpret_i64",
            "f32.convert_i64_s",
            "f32.convert_i64_u",
        ] {
            both.check(op, &halves(v));
        }
    }
    for &a in &i32s() {
        for op in [
            "f64.convert_i32_s",
            "f64.convert_i32_u",
            "f32.convert_i32_s",
            "f32.convert_i32_u",
            "f32.reinterpret_i32",
        ] {
            both.check(op, &[Val::I32(a as i32)]);
        }
    }
}

#[test]
fn loads_and_stores_of_every_width_sign_extend_and_trap_out_of_bounds() {
    let mut funcs = String::new();
    for (store, loads) in [
        (
            "i32.store",
            &[
                "i32.load",
                "i32.load8_s",
                "i32.load8_u",
                "i32.load16_s",
                "i32.load16_u",
            ][..],
        ),
        ("i32.store8", &["i32.load"][..]),
        ("i32.store16", &["i32.load"][..]),
    ] {
        for load in loads {
            let _ = write!(
                funcs,
                "(func (export \"{store}/{load}\") (param i32 i32) (result i32)
                   (i32.store offset=4 (local.get 0) (i32.const 0xAAAAAAAA))
                   ({store} offset=4 (local.get 0) (local.get 1))
                   ({load} offset=4 (local.get 0)))"
            );
        }
    }
    for (store, loads) in [
        (
            "i64.store",
            &[
                "i64.load",
                "i64.load8_s",
                "i64.load8_u",
                "i64.load16_s",
                "i64.load16_u",
                "i64.load32_s",
                "i64.load32_u",
            ][..],
        ),
        ("i64.store8", &["i64.load"][..]),
        ("i64.store16", &["i64.load"][..]),
        ("i64.store32", &["i64.load"][..]),
    ] {
        for load in loads {
            let _ = write!(
                funcs,
                "(func (export \"{store}/{load}\") (param i32 i32 i32) (result i32 i32)
                   (i64.store (local.get 0) (i64.const 0x5555555555555555))
                   ({store} (local.get 0) (call $join (local.get 1) (local.get 2)))
                   (call $split ({load} (local.get 0))))"
            );
        }
    }
    funcs.push_str(
        "(func (export \"f64\") (param i32 f64) (result f64)
           (f64.store offset=1 (local.get 0) (local.get 1)) (f64.load offset=1 (local.get 0)))
         (func (export \"f32\") (param i32 f32) (result f32)
           (f32.store (local.get 0) (local.get 1)) (f32.load (local.get 0)))",
    );
    let mut both = Both::new(&module(&funcs));
    let addresses = [
        0u32,
        1,
        3,
        65536 - 12,
        65536 - 8,
        65536 - 4,
        65536,
        0xffff_fff0,
    ];
    for &a in &addresses {
        for &v in &i32s() {
            for name in [
                "i32.store/i32.load",
                "i32.store/i32.load8_s",
                "i32.store/i32.load8_u",
                "i32.store/i32.load16_s",
                "i32.store/i32.load16_u",
                "i32.store8/i32.load",
                "i32.store16/i32.load",
            ] {
                both.check(name, &[Val::I32(a as i32), Val::I32(v as i32)]);
            }
        }
        for &v in &i64s() {
            let [lo, hi] = halves(v);
            for name in [
                "i64.store/i64.load",
                "i64.store/i64.load8_s",
                "i64.store/i64.load8_u",
                "i64.store/i64.load16_s",
                "i64.store/i64.load16_u",
                "i64.store/i64.load32_s",
                "i64.store/i64.load32_u",
                "i64.store8/i64.load",
                "i64.store16/i64.load",
                "i64.store32/i64.load",
            ] {
                both.check(name, &[Val::I32(a as i32), lo.clone(), hi.clone()]);
            }
        }
        for &x in &f64s() {
            both.check("f64", &[Val::I32(a as i32), f64v(x)]);
            both.check("f32", &[Val::I32(a as i32), f32v(x as f32)]);
        }
    }
}

#[test]
fn memory_grows_copies_and_fills_within_bounds() {
    let funcs = "
      (func (export \"size\") (result i32) (memory.size))
      (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export \"copy\") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
      (func (export \"fill\") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
      (func (export \"load\") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export \"store\") (param i32 i32) (i32.store (local.get 0) (local.get 1)))";
    let mut both = Both::new(&module(funcs));
    let i = |v: u32| Val::I32(v as i32);
    both.check("store", &[i(100), i(0x0403_0201)]);
    both.check("store", &[i(104), i(0x0807_0605)]);
    both.check("copy", &[i(102), i(100), i(8)]);
    for a in 96..116 {
        both.check("load", &[i(a)]);
    }
    both.check("fill", &[i(200), i(0x1ff), i(7)]);
    for a in 196..212 {
        both.check("load", &[i(a)]);
    }
    both.check("copy", &[i(65530), i(0), i(7)]);
    both.check("fill", &[i(65535), i(1), i(2)]);
    both.check("fill", &[i(65536), i(1), i(0)]);
    both.check("size", &[]);
    assert_eq!(
        both.check("grow", &[i(2)]),
        Outcome::Values(vec![support::Bits::I32(1)])
    );
    both.check("size", &[]);
    both.check("load", &[i(100)]);
    both.check("store", &[i(3 * 65536 - 4), i(9)]);
    both.check("load", &[i(3 * 65536 - 4)]);
    both.check("grow", &[i(2)]);
    both.check("grow", &[i(1)]);
    both.check("grow", &[i(0)]);
    both.check("size", &[]);
    both.check("load", &[i(4 * 65536 - 4)]);
    both.check("load", &[i(4 * 65536 - 3)]);
}

#[test]
fn memory_grown_a_page_at_a_time_keeps_its_size_and_contents() {
    // The translation's buffer grows ahead of the memory (a new buffer half as large again),
    // so `memory.size`, new pages' zeros and what was written must not depend on where the
    // buffer's end is.
    let funcs = "
      (func (export \"size\") (result i32) (memory.size))
      (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export \"load\") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export \"store\") (param i32 i32) (i32.store (local.get 0) (local.get 1)))";
    let mut both = Both::new(&format!(
        "(module (memory (export \"memory\") 1 64) {JOIN} {funcs})"
    ));
    let i = |v: u32| Val::I32(v as i32);
    for page in 1..40u32 {
        both.check("load", &[i(page * 65536 - 4)]);
        assert_eq!(
            both.check("grow", &[i(1)]),
            Outcome::Values(vec![support::Bits::I32(page)])
        );
        both.check("size", &[]);
        both.check("load", &[i(page * 65536)]);
        both.check("store", &[i(page * 65536), i(page)]);
        both.check("store", &[i((page + 1) * 65536 - 4), i(!page)]);
    }
    for page in 1..40u32 {
        both.check("load", &[i(page * 65536)]);
        both.check("load", &[i((page + 1) * 65536 - 4)]);
    }
    both.check("grow", &[i(3)]);
    both.check("size", &[]);
    both.check("load", &[i(43 * 65536 - 4)]);
    // Past the maximum: -1, and the size stays.
    both.check("grow", &[i(30)]);
    both.check("size", &[]);
}

#[test]
fn structured_control_flow_branches_to_every_depth() {
    let funcs = r#"
      ;; br_table over five targets, with runs of equal targets and a default.
      (func (export "switch") (param i32) (result i32)
        (block $d (block $c (block $b (block $a
          (br_table $a $a $b $c $b $d $a (local.get 0)))
          (return (i32.const 100)))
          (return (i32.const 200)))
          (return (i32.const 300)))
        (i32.const 400))
      ;; Block results through br, br_if and fallthrough.
      (func (export "pick") (param i32) (result i32)
        (block $out (result i32)
          (drop (br_if $out (i32.const 7) (i32.eq (local.get 0) (i32.const 1))))
          (drop (br_if $out (i32.const 8) (i32.eq (local.get 0) (i32.const 2))))
          (if (result i32) (i32.eq (local.get 0) (i32.const 3))
            (then (br $out (i32.const 9)))
            (else (i32.add (local.get 0) (i32.const 1000))))))
      ;; Nested loops: the inner one continues the outer one and breaks out of both.
      (func (export "nested") (param i32) (result i32)
        (local $i i32) (local $j i32) (local $sum i32)
        (block $done
          (loop $outer
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $j (i32.const 0))
            (loop $inner
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $j))))
              (br_if $done (i32.gt_u (local.get $sum) (local.get 0)))
              (br_if $outer (i32.ge_u (local.get $j) (local.get $i)))
              (br $inner))))
        (local.get $sum))
      ;; A loop with a value result and an if without else.
      (func (export "collatz") (param i32) (result i32)
        (local $steps i32)
        (loop $l (result i32)
          (if (i32.le_u (local.get 0) (i32.const 1)) (then (return (local.get $steps))))
          (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
          (local.set 0
            (if (result i32) (i32.and (local.get 0) (i32.const 1))
              (then (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
              (else (i32.shr_u (local.get 0) (i32.const 1)))))
          (br $l)))
      ;; Multi-value blocks with parameters.
      (func (export "swap") (param i32 i32) (result i32 i32)
        (local.get 0) (local.get 1)
        (block (param i32 i32) (result i32 i32)
          (local.set 0) (local.set 1) (local.get 0) (local.get 1)))
      (func (export "trap") (param i32) (result i32)
        (if (local.get 0) (then unreachable))
        (i32.const 5))
      ;; br_table carrying a value, in a loop.
      (func (export "count") (param i32) (result i32)
        (local $n i32)
        (block $exit (result i32)
          (loop $again
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (drop (block $continue (result i32)
              (br_table $continue $exit (local.get $n) (i32.eqz (local.get 0)))))
            (br $again))
          (i32.const -1)))
    "#;
    let mut both = Both::new(&module(funcs));
    for &a in &i32s() {
        for name in ["switch", "pick", "trap"] {
            both.check(name, &[Val::I32(a as i32)]);
        }
        if a < 10_000 {
            both.check("nested", &[Val::I32(a as i32)]);
            both.check("count", &[Val::I32(a as i32 + 1)]);
        }
        if a < 1 << 20 {
            both.check("collatz", &[Val::I32(a as i32)]);
        }
        both.check("swap", &[Val::I32(a as i32), Val::I32(7)]);
    }
    for a in 0..10 {
        both.check("switch", &[Val::I32(a)]);
        both.check("pick", &[Val::I32(a)]);
    }
}

#[test]
fn calls_indirect_calls_globals_select_and_imports() {
    let funcs = r#"
      (type $bin (func (param i32 i32) (result i32)))
      (table 4 funcref)
      (elem (i32.const 1) $sub $mul $wide)
      (global $counter (mut i32) (i32.const 10))
      (global $big (mut i64) (i64.const -2))
      (func $sub (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
      (func $mul (param i32 i32) (result i32) (i32.mul (local.get 0) (local.get 1)))
      (func $wide (param i64) (result i64) (i64.add (local.get 0) (local.get 0)))
      (func (export "indirect") (param i32 i32 i32) (result i32)
        (call_indirect (type $bin) (local.get 1) (local.get 2) (local.get 0)))
      (func (export "import") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func (export "bump") (param i32) (result i32 i32 i32)
        (global.set $counter (i32.add (global.get $counter) (local.get 0)))
        (global.set $big (i64.mul (global.get $big) (i64.extend_i32_s (local.get 0))))
        (global.get $counter)
        (call $split (global.get $big)))
      (func (export "select") (param i32 i32 i32) (result i32)
        (select (local.get 0) (local.get 1) (local.get 2)))
      (func (export "select64") (param i32 i32 i32 i32 i32) (result i32 i32)
        (call $split (select (call $join (local.get 0) (local.get 1))
                             (call $join (local.get 2) (local.get 3)) (local.get 4))))
      (func (export "selectf") (param f64 f64 i32) (result f64)
        (select (local.get 0) (local.get 1) (local.get 2)))
    "#;
    let import = r#"(import "host" "add" (func $add (param i32 i32) (result i32)))"#;
    let mut both = Both::new(&format!("(module {import} (memory 1) {JOIN} {funcs})"));
    let i = |v: u32| Val::I32(v as i32);
    for slot in 0..6 {
        for &a in &i32s()[..8] {
            both.check("indirect", &[i(slot), i(a), i(3)]);
        }
    }
    for &a in &i32s() {
        both.check("import", &[i(a), i(0xffff_fff0)]);
        both.check("bump", &[i(a)]);
        for c in [0, 1, 0x8000_0000] {
            both.check("select", &[i(a), i(9), i(c)]);
            both.check("select64", &[i(a), i(1), i(2), i(a), i(c)]);
            both.check("selectf", &[f64v(-0.0), f64v(1.5), i(c)]);
        }
    }
    for n in 0..20 {
        both.check("fib", &[i(n)]);
    }
}

#[test]
fn functions_with_more_locals_than_luau_allows_spill_into_a_table() {
    // 300 locals, each used: beyond Luau's 200 per function.
    let mut body = String::new();
    for k in 0..300 {
        let _ = write!(
            body,
            "(local.set {} (i32.add (local.get {}) (i32.const {k})))",
            k + 1,
            k
        );
    }
    let wat = module(&format!(
        "(func (export \"chain\") (param i32) (result i32) (local {}) {body} (local.get 300))",
        "i32 ".repeat(300)
    ));
    let mut both = Both::new(&wat);
    for &a in &i32s() {
        both.check("chain", &[Val::I32(a as i32)]);
    }
}

#[test]
fn unsupported_instructions_fail_the_translation() {
    let wasm = wat::parse_str("(module (func (param v128) (result v128) (local.get 0)))").unwrap();
    let err = wasm2luau::translate(&wasm).unwrap_err().to_string();
    assert!(
        err.contains("unsupported") || err.contains("invalid"),
        "{err}"
    );
    let wasm =
        wat::parse_str("(module (memory 1) (data \"x\") (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1))))")
            .unwrap();
    let err = wasm2luau::translate(&wasm).unwrap_err().to_string();
    assert!(err.contains("passive data"), "{err}");
}

#[test]
fn large_functions_and_deep_nesting_compile_or_fail_the_translation() {
    // One function of 100,000 instructions, jumped over by a branch.
    let mut body = String::new();
    for k in 0..25_000 {
        let _ = write!(
            body,
            "(local.set 1 (i32.add (local.get 1) (i32.load offset={} (local.get 0))))",
            k % 30_000
        );
    }
    let wat = module(&format!(
        "(func (export \"long\") (param i32) (result i32) (local i32)
           (block $skip (br_if $skip (i32.eqz (local.get 0))) {body}) (local.get 1))"
    ));
    let mut both = Both::new(&wat);
    both.check("long", &[Val::I32(4)]);
    both.check("long", &[Val::I32(0)]);

    let nested = |depth: usize| {
        let mut wat = String::from("(module (func (export \"deep\") (param i32) (result i32)");
        for _ in 0..depth {
            wat.push_str("(block $x (br_if $x (i32.eqz (local.get 0)))");
        }
        wat.push_str("(local.set 0 (i32.const 9))");
        wat.push_str(&")".repeat(depth));
        wat.push_str("(local.get 0)))");
        wat
    };
    let mut both = Both::new(&nested(400));
    both.check("deep", &[Val::I32(4)]);
    both.check("deep", &[Val::I32(0)]);
    let err = wasm2luau::translate(&wat::parse_str(nested(401)).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nested 401 deep"), "{err}");
}
