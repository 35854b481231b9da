//! Moving [`STRIP`] rows of `f32` in and out of the transposed strips that the row passes of
//! the Jarosz filter work on (`strip[j · STRIP + lane] = row[lane][j]`).
//!
//! Element by element, each value is a load and a store of its own, which took a fifth of the
//! hash's time. On x86-64 the strips move in 4×4 blocks instead: four 4-float loads, the
//! shuffles of SSE's `_MM_TRANSPOSE4_PS`, four 4-float stores, about 3× faster. SSE is part of
//! the x86-64 baseline the compiler targets, so no run-time test is needed. This module's
//! `unsafe` code is the two calls into the SSE copies, each with a `// SAFETY:` comment: they
//! are `unsafe` only because those are `#[target_feature(enable = "sse")]` functions;
//! the crate docs (`lib.rs`, *Unsafe code*) list every module with `unsafe` code.
//! Values are moved, never computed, so both ways give the same bits (tested).

#![allow(unsafe_code)]

/// Number of image rows in a strip: the rows the Jarosz row passes (`jarosz.rs`) filter
/// together, as SIMD lanes.
pub(crate) const STRIP: usize = 16;

/// `strip[j * STRIP + lane] = rows[lane][j]` for `j < width`, every lane.
pub(crate) fn to_strip(rows: &[&[f32]; STRIP], width: usize, strip: &mut [f32]) {
    let strip = &mut strip[..width * STRIP];
    // SAFETY: SSE is enabled for the whole build (the `cfg`).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    let done = unsafe { sse::to_strip(rows, width, strip) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let done = 0;
    for j in done..width {
        for (lane, row) in rows.iter().enumerate() {
            strip[j * STRIP + lane] = row[j];
        }
    }
}

/// `rows[lane][j] = strip[j * STRIP + lane]` for `j < width`, for each lane that has a row.
pub(crate) fn from_strip(strip: &[f32], width: usize, rows: &mut [Option<&mut [f32]>; STRIP]) {
    let strip = &strip[..width * STRIP];
    // SAFETY: SSE is enabled for the whole build (the `cfg`).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    let done = unsafe { sse::from_strip(strip, width, rows) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let done = [0usize; STRIP / 4];
    for (lane, row) in rows.iter_mut().enumerate() {
        if let Some(row) = row {
            for j in done[lane / 4]..width {
                row[j] = strip[j * STRIP + lane];
            }
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
mod sse {
    use super::STRIP;
    use core::arch::x86_64::{
        __m128, _mm_movehl_ps, _mm_movelh_ps, _mm_unpackhi_ps, _mm_unpacklo_ps,
    };

    /// The first 4 floats of `s` (callers pass whole blocks).
    #[inline(always)]
    fn load(s: &[f32]) -> __m128 {
        bytemuck::cast(*s.first_chunk::<4>().expect("a whole block of 4"))
    }

    /// Into the first 4 floats of `d` (callers pass whole blocks).
    #[inline(always)]
    fn store(v: __m128, d: &mut [f32]) {
        *d.first_chunk_mut::<4>().expect("a whole block of 4") = bytemuck::cast(v);
    }

    /// The transpose of a 4×4 block given as four rows.
    #[inline]
    #[target_feature(enable = "sse")]
    fn transpose4(r: [__m128; 4]) -> [__m128; 4] {
        let t0 = _mm_unpacklo_ps(r[0], r[1]);
        let t1 = _mm_unpacklo_ps(r[2], r[3]);
        let t2 = _mm_unpackhi_ps(r[0], r[1]);
        let t3 = _mm_unpackhi_ps(r[2], r[3]);
        [
            _mm_movelh_ps(t0, t1),
            _mm_movehl_ps(t1, t0),
            _mm_movelh_ps(t2, t3),
            _mm_movehl_ps(t3, t2),
        ]
    }

    /// [`super::to_strip`] for whole blocks of 4 columns; returns the columns done.
    #[target_feature(enable = "sse")]
    pub(super) fn to_strip(rows: &[&[f32]; STRIP], width: usize, strip: &mut [f32]) -> usize {
        let whole = width / 4 * 4;
        for j in (0..whole).step_by(4) {
            for lb in 0..STRIP / 4 {
                let r = &rows[lb * 4..lb * 4 + 4];
                let t = transpose4([
                    load(&r[0][j..]),
                    load(&r[1][j..]),
                    load(&r[2][j..]),
                    load(&r[3][j..]),
                ]);
                for (c, v) in t.into_iter().enumerate() {
                    store(v, &mut strip[(j + c) * STRIP + lb * 4..]);
                }
            }
        }
        whole
    }

    /// [`super::from_strip`] for whole blocks of 4 columns and 4 lanes that all have rows;
    /// returns the columns done for each block of 4 lanes.
    #[target_feature(enable = "sse")]
    pub(super) fn from_strip(
        strip: &[f32],
        width: usize,
        rows: &mut [Option<&mut [f32]>; STRIP],
    ) -> [usize; STRIP / 4] {
        let whole = width / 4 * 4;
        let mut done = [0; STRIP / 4];
        for (lb, block) in rows.chunks_exact_mut(4).enumerate() {
            let [Some(r0), Some(r1), Some(r2), Some(r3)] = block else {
                continue;
            };
            for j in (0..whole).step_by(4) {
                let at = j * STRIP + lb * 4;
                let t = transpose4([
                    load(&strip[at..]),
                    load(&strip[at + STRIP..]),
                    load(&strip[at + 2 * STRIP..]),
                    load(&strip[at + 3 * STRIP..]),
                ]);
                store(t[0], &mut r0[j..]);
                store(t[1], &mut r1[j..]);
                store(t[2], &mut r2[j..]);
                store(t[3], &mut r3[j..]);
            }
            done[lb] = whole;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hold_rows_transposed_and_give_them_back() {
        for width in [0usize, 1, 3, 4, 5, 8, 13, 64, 1155] {
            let rows: Vec<Vec<f32>> = (0..STRIP)
                .map(|l| (0..width).map(|j| (l * 10_000 + j) as f32).collect())
                .collect();
            let refs: [&[f32]; STRIP] = std::array::from_fn(|l| &rows[l][..]);
            let mut strip = vec![f32::NAN; width * STRIP + 7];
            to_strip(&refs, width, &mut strip);
            for j in 0..width {
                for l in 0..STRIP {
                    assert_eq!(strip[j * STRIP + l], rows[l][j], "{width} {j} {l}");
                }
            }
            assert!(strip[width * STRIP..].iter().all(|v| v.is_nan()));
            // Back, into every lane, and into some lanes only (a strip's last rows).
            for present in [STRIP, 13, 5, 1] {
                let mut back = vec![vec![-1f32; width + 2]; STRIP];
                let mut dst: [Option<&mut [f32]>; STRIP] = [const { None }; STRIP];
                for (l, (d, row)) in dst.iter_mut().zip(back.iter_mut()).enumerate() {
                    if l < present {
                        *d = Some(&mut row[..]);
                    }
                }
                from_strip(&strip, width, &mut dst);
                for (l, row) in back.iter().enumerate() {
                    let want: Vec<f32> = if l < present {
                        rows[l].iter().copied().chain([-1.0, -1.0]).collect()
                    } else {
                        vec![-1.0; width + 2]
                    };
                    assert_eq!(row, &want, "{width} {present} {l}");
                }
            }
        }
    }
}
