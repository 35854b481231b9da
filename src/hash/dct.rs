//! The 16×64 DCT-II basis PDQ uses, and the 64×64 → 16×16 transform.
//!
//! This is the single definition of the coefficients: the GPU path uploads [`dct_matrix`]
//! rather than restating it. Row `i` holds frequency `i + 1` (PDQ drops the DC term):
//! `D[i][j] = s · cos(π/128 · (i+1) · (2j+1))` with `s = sqrt(2/64)` rounded to `f32` first, the
//! product taken in `f64` and rounded to `f32`, exactly as Meta's `pdqhashing.cpp` builds it.

use std::sync::OnceLock;

/// Number of DCT rows (frequencies 1..=16); public as a dimension of [`dct_matrix`].
pub const DCT_ROWS: usize = 16;
/// Number of DCT columns (the 64-sample input); public as a dimension of [`dct_matrix`].
pub const DCT_COLS: usize = 64;

/// The 16×64 DCT matrix, row-major.
///
/// Public because the GPU path (`gpu`) uploads this table rather than a copy of it.
#[must_use]
pub fn dct_matrix() -> &'static [f32; DCT_ROWS * DCT_COLS] {
    static MATRIX: OnceLock<[f32; DCT_ROWS * DCT_COLS]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / 64.0).sqrt() as f32;
        let pi = std::f64::consts::PI;
        let mut d = [0f32; DCT_ROWS * DCT_COLS];
        for i in 0..DCT_ROWS {
            for j in 0..DCT_COLS {
                let angle = (pi / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
                d[i * DCT_COLS + j] = (f64::from(scale) * angle.cos()) as f32;
            }
        }
        d
    })
}

/// `B = D · A · Dᵀ` for a 64×64 row-major input `a`, written to the 16×16 row-major `out`.
///
/// The sums run over `k` in increasing order with one `f32` rounding per product and per sum,
/// the reference's order of operations (vectorised across the other index, which does not change
/// any single sum).
pub(crate) fn dct64_to_16(a: &[f32; 64 * 64], out: &mut [f32; 256]) {
    let d = dct_matrix();
    // T = D · A  (16×64): T[i][j] = Σ_k D[i][k] · A[k][j]
    let mut t = [0f32; 16 * 64];
    for i in 0..16 {
        let trow = &mut t[i * 64..i * 64 + 64];
        for k in 0..64 {
            let dik = d[i * 64 + k];
            let arow = &a[k * 64..k * 64 + 64];
            for j in 0..64 {
                trow[j] += dik * arow[j];
            }
        }
    }
    // B = T · Dᵀ (16×16): B[i][j] = Σ_k T[i][k] · D[j][k]
    let mut dt = [0f32; 64 * 16];
    for j in 0..16 {
        for k in 0..64 {
            dt[k * 16 + j] = d[j * 64 + k];
        }
    }
    out.fill(0.0);
    for i in 0..16 {
        let brow = &mut out[i * 16..i * 16 + 16];
        for k in 0..64 {
            let tik = t[i * 64 + k];
            let dtrow = &dt[k * 16..k * 16 + 16];
            for j in 0..16 {
                brow[j] += tik * dtrow[j];
            }
        }
    }
}
