//! RGB → `f32` luma, as the reference computes it, a row at a time.
//!
//! pdqhash-python multiplies each 8-bit channel by 0.299, 0.587 and 0.114 in `f64`, adds the
//! products left to right and rounds the sum once to `f32`. The portable row loop replays that
//! with three 256-entry tables of the `f64` products.
//!
//! The same value is `f32(299·r + 587·g + 114·b) / 1000`, one correctly rounded `f32`
//! division of an exact integer `k`. The `f64` sum adds three non-negative products, so it is
//! within about 6·10⁻¹⁶ of `k / 1000`, relatively. And `k / 1000` is never relatively nearer
//! than 2⁻²⁵/1000 (about 3·10⁻¹¹) to a point halfway between two `f32` values: such a point
//! is an odd multiple of 2ᵉ⁻²⁴ in the binade [2ᵉ, 2ᵉ⁺¹), and `k / 1000` could equal one only
//! if 125 divided `k`, which makes it a multiple of 1/8 that `f32` holds exactly. So both round
//! to the same `f32`; a test checks all 2²⁴ colours.
//!
//! The integer form needs no table lookups, which vectors cannot do: on x86-64 with AVX2
//! (picked at run time, as [`crate::index`]'s `POPCNT` loops are) the compiler turns it into
//! 8-lane integer and division code that converts a row about 2.5× faster than the tables.
//! Without AVX2 the tables are faster than scalar divisions, so the portable loop keeps them.
//!
//! This module's `unsafe` code is the call into the AVX2 copy, with a `// SAFETY:` comment:
//! calling a `#[target_feature]` function is `unsafe` only because the feature must be present,
//! which the test right before the call establishes; the crate docs (`lib.rs`, *Unsafe code*)
//! list every module with `unsafe` code.

#![allow(unsafe_code)]

use std::sync::OnceLock;

struct Tables {
    r: [f64; 256],
    g: [f64; 256],
    b: [f64; 256],
    gray: [f32; 256],
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tables {
            r: [0.0; 256],
            g: [0.0; 256],
            b: [0.0; 256],
            gray: [0.0; 256],
        };
        for v in 0..256 {
            t.r[v] = v as f64 * 0.299;
            t.g[v] = v as f64 * 0.587;
            t.b[v] = v as f64 * 0.114;
        }
        for v in 0..=255u8 {
            t.gray[v as usize] = from_tables(&t, v, v, v);
        }
        t
    })
}

#[inline(always)]
fn from_tables(t: &Tables, r: u8, g: u8, b: u8) -> f32 {
    ((t.r[r as usize] + t.g[g as usize]) + t.b[b as usize]) as f32
}

/// The luma value the reference computes for one RGB pixel.
///
/// Public because the GPU path (`gpu`) builds its luma tables from it.
#[must_use]
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    from_tables(tables(), r, g, b)
}

/// The luma of a row of grey pixels (`out.len()` of them).
#[inline]
pub(crate) fn gray_row(row: &[u8], out: &mut [f32]) {
    let t = tables();
    for (o, &v) in out.iter_mut().zip(row) {
        *o = t.gray[v as usize];
    }
}

/// The luma of a row of packed RGB pixels (`out.len()` of them).
#[inline]
pub(crate) fn rgb_row(row: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked on the line above).
        return unsafe { rgb_row_avx2(row, out) };
    }
    rgb_row_tables(row, out);
}

#[inline(always)]
fn rgb_row_tables(row: &[u8], out: &mut [f32]) {
    let t = tables();
    for (o, p) in out.iter_mut().zip(row.chunks_exact(3)) {
        *o = from_tables(t, p[0], p[1], p[2]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rgb_row_avx2(row: &[u8], out: &mut [f32]) {
    rgb_row_divided(row, out);
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn rgb_row_divided(row: &[u8], out: &mut [f32]) {
    for (o, p) in out.iter_mut().zip(row.chunks_exact(3)) {
        *o = divided(p[0], p[1], p[2]);
    }
}

/// `f32(299·r + 587·g + 114·b) / 1000`: the reference luma (see the module docs).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn divided(r: u8, g: u8, b: u8) -> f32 {
    (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) as f32 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pdqhash-python's formula, written out.
    fn reference(r: u8, g: u8, b: u8) -> f32 {
        ((f64::from(r) * 0.299 + f64::from(g) * 0.587) + f64::from(b) * 0.114) as f32
    }

    #[test]
    fn the_integer_form_equals_the_reference_for_every_colour() {
        let mut differ = 0u32;
        for r in 0..=255u8 {
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    let want = reference(r, g, b).to_bits();
                    differ += u32::from(divided(r, g, b).to_bits() != want);
                    differ += u32::from(luma(r, g, b).to_bits() != want);
                }
            }
        }
        assert_eq!(differ, 0);
    }

    #[test]
    fn every_row_kernel_gives_the_reference_per_pixel() {
        let mut rng = crate::rng::Rng::new(7);
        // Lengths around the vector widths, and a row longer than the output.
        for width in [0usize, 1, 7, 8, 9, 31, 32, 33, 1000] {
            let row: Vec<u8> = (0..width * 3 + 2).map(|_| rng.next_u64() as u8).collect();
            let want: Vec<u32> = row
                .chunks_exact(3)
                .take(width)
                .map(|p| reference(p[0], p[1], p[2]).to_bits())
                .collect();
            let run = |f: &dyn Fn(&[u8], &mut [f32])| {
                let mut out = vec![f32::NAN; width];
                f(&row, &mut out);
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(run(&rgb_row), want, "{width}");
            assert_eq!(run(&|r, o| rgb_row_tables(r, o)), want, "{width}");
            assert_eq!(run(&|r, o| rgb_row_divided(r, o)), want, "{width}");
            let grey: Vec<u32> = row[..width]
                .iter()
                .map(|&v| reference(v, v, v).to_bits())
                .collect();
            let mut out = vec![f32::NAN; width];
            gray_row(&row[..width], &mut out);
            assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), grey);
        }
    }
}
