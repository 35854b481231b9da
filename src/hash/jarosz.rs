//! The Jarosz tent filter (two box-filter passes per axis) and 64×64 decimation, computed in one
//! streaming sweep over the image.
//!
//! The reference (`downscaling.cpp`) filters the whole luma plane four times — rows, columns,
//! rows, columns — and then samples 64×64 points. Every output value is a running `f32` sum
//! divided by the window count, so bit-exactness requires replaying exactly the same sequence of
//! additions and subtractions per row or column, which this module does. What it changes is the
//! order in which rows and columns are visited, which no single sum can observe:
//!
//! 1. rows of luma are produced in strips of [`STRIP`] rows, transposed, and box-filtered along
//!    the row direction with the strip's rows as SIMD lanes (pass 1);
//! 2. pass 2 (columns) runs across all columns at once, consuming pass-1 rows from a ring buffer
//!    of `window + STRIP + 1` rows, so the full-size intermediate never exists;
//! 3. pass 3 (rows) again works on transposed strips of pass-2 output but divides and stores only
//!    at the 64 columns that decimation will sample;
//! 4. pass 4 (columns) runs only on those 64 columns and keeps only the 64 sampled rows.
//!
//! Working memory is `O((window + STRIP) × width)`, independent of the image height, and is
//! reused across images.

use super::strip::{from_strip, to_strip, STRIP};

/// Side of the decimated image.
pub(crate) const OUT: usize = 64;

/// Box-filter window for one axis: `(n + 127) / 128`, as `computeJaroszFilterWindowSize(n, 64)`.
#[inline]
///
/// Public because the GPU path (`gpu`) sizes its box filters with the same rule.
#[must_use]
pub fn window_size(n: usize) -> usize {
    n.div_ceil(2 * OUT)
}

/// Index of the input row (or column) sampled for output `i` of 64: `⌊(i + 0.5) · n / 64⌋`,
/// computed in `f64` like the reference.
#[inline]
#[must_use]
pub(crate) fn decimation_index(i: usize, n: usize) -> usize {
    (((i as f64 + 0.5) * n as f64) / OUT as f64) as usize
}

/// One step of the reference `box1DFloat` loop: add element `add`, then subtract element `sub`,
/// then write output `out` as `sum / count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoxOp {
    pub add: Option<usize>,
    pub sub: Option<usize>,
    pub out: Option<usize>,
    pub count: u32,
}

/// The exact sequence of operations `box1DFloat(vector_length = n, full_window_size = window)`
/// performs, phase by phase.
pub(crate) fn box_schedule(n: usize, window: usize) -> impl Iterator<Item = BoxOp> {
    let window = window.clamp(1, n.max(1));
    let half = (window + 2) / 2;
    let p1 = half - 1;
    let p2 = window - half + 1;
    let p3 = n - window;
    let p4 = half - 1;
    let mut ri = 0usize;
    let mut li = 0usize;
    let mut oi = 0usize;
    let mut count = 0u32;
    (0..p1 + p2 + p3 + p4).map(move |step| {
        if step < p1 {
            count += 1;
            ri += 1;
            BoxOp {
                add: Some(ri - 1),
                sub: None,
                out: None,
                count,
            }
        } else if step < p1 + p2 {
            count += 1;
            ri += 1;
            oi += 1;
            BoxOp {
                add: Some(ri - 1),
                sub: None,
                out: Some(oi - 1),
                count,
            }
        } else if step < p1 + p2 + p3 {
            ri += 1;
            li += 1;
            oi += 1;
            BoxOp {
                add: Some(ri - 1),
                sub: Some(li - 1),
                out: Some(oi - 1),
                count,
            }
        } else {
            count -= 1;
            li += 1;
            oi += 1;
            BoxOp {
                add: None,
                sub: Some(li - 1),
                out: Some(oi - 1),
                count,
            }
        }
    })
}

/// Applies one [`BoxOp`]'s additions to a lane vector: `sum = (sum + add) - sub`, one rounding
/// each, like the scalar reference.
#[inline(always)]
fn apply(sum: &mut [f32], add: Option<&[f32]>, sub: Option<&[f32]>) {
    match (add, sub) {
        (Some(a), Some(b)) => {
            for ((s, &x), &y) in sum.iter_mut().zip(a).zip(b) {
                *s = (*s + x) - y;
            }
        }
        (Some(a), None) => {
            for (s, &x) in sum.iter_mut().zip(a) {
                *s += x;
            }
        }
        (None, Some(b)) => {
            for (s, &y) in sum.iter_mut().zip(b) {
                *s -= y;
            }
        }
        (None, None) => {}
    }
}

/// `1 / count` in `f64`, for [`quotient`].
#[inline(always)]
fn reciprocal(count: u32) -> f64 {
    1.0 / f64::from(count)
}

/// `s / count` rounded once to `f32`, as the reference's `f32` division gives it, from
/// `r = `[`reciprocal`]`(count)`: the product `s · r` in `f64`, rounded to `f32`.
///
/// Why it is exact: the `f64` product is within 2⁻⁵² of `s / c`, relatively. If `s / c` is an
/// `f32`, rounding gives it back. Otherwise it lies at least 2⁻²⁵/c from any point halfway
/// between two `f32` values, relatively: `s` and such a point times `c` are both multiples of
/// half the quotient's ulp, so they differ by at least that much, and they cannot be
/// equal (a halfway point has 25 significant bits, more than `s` times `c`'s odd part can
/// match, and a power-of-two `c` divides `s` exactly). Window counts are far below 2²⁰, where
/// 2⁻²⁵/c would come near 2⁻⁵². A test compares it with `f32` division for every count up to
/// 4096 on values of every magnitude. The conversion, multiplication and conversion back
/// vectorise to about 1.5× the speed of `divps` on x86-64's baseline SSE2.
#[inline(always)]
fn quotient(s: f32, r: f64) -> f32 {
    (f64::from(s) * r) as f32
}

/// `sum / count` for every lane (one rounding each, vectorised).
#[inline(always)]
fn divide(sum: &[f32; STRIP], count: u32) -> [f32; STRIP] {
    let r = reciprocal(count);
    let mut q = [0f32; STRIP];
    for (q, &s) in q.iter_mut().zip(sum) {
        *q = quotient(s, r);
    }
    q
}

/// [`to_strip`] of a `STRIP × width` block of rows stored one after another.
fn transpose_into_strip(rows: &[f32], width: usize, strip: &mut [f32]) {
    let rows: [&[f32]; STRIP] = std::array::from_fn(|lane| &rows[lane * width..][..width]);
    to_strip(&rows, width, strip);
}

/// Reusable working memory for [`downsample`].
#[derive(Default, Debug)]
pub(crate) struct JaroszScratch {
    /// Transposed strip of luma (pass-1 input), `width × STRIP`.
    strip_in: Vec<f32>,
    /// Transposed strip of pass-1 output, `width × STRIP`, before it goes to the ring.
    strip_out: Vec<f32>,
    /// Ring of pass-1 output rows, `ring_rows × width`.
    ring: Vec<f32>,
    /// Pass-2 running sums, `width`.
    col_sum: Vec<f32>,
    /// Transposed strip of pass-2 output (pass-3 input), `width × STRIP`.
    strip_mid: Vec<f32>,
    /// Pass-3 output at the 64 sampled columns, `height × 64`.
    sampled: Vec<f32>,
    /// Decimation indices along columns.
    cols_idx: Vec<usize>,
    /// A strip of luma rows, row-major, `STRIP × width`.
    row: Vec<f32>,
    /// A strip of pass-2 output rows, row-major, `STRIP × width`.
    mid_rows: Vec<f32>,
}

fn ensure_len(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Filters a luma plane given row by row and decimates it to 64×64, bit-exact with the
/// reference `jaroszFilterFloat(…, 2 passes)` followed by `decimateFloat`.
///
/// `fill_row(r, out)` writes the `width` luma values of image row `r` into `out`; rows are
/// requested in increasing order, each once.
pub(crate) fn downsample(
    width: usize,
    height: usize,
    scratch: &mut JaroszScratch,
    mut fill_row: impl FnMut(usize, &mut [f32]),
    out: &mut [f32; OUT * OUT],
) {
    let win_rows = window_size(width); // applied along each row (length = width)
    let win_cols = window_size(height); // applied along each column (length = height)
    let ring_rows = win_cols + STRIP + 1;

    let JaroszScratch {
        strip_in,
        strip_out,
        ring,
        col_sum,
        strip_mid,
        sampled,
        cols_idx,
        row: row_buf,
        mid_rows,
    } = scratch;
    ensure_len(strip_in, width * STRIP);
    ensure_len(strip_out, width * STRIP);
    ensure_len(ring, ring_rows * width);
    ensure_len(strip_mid, width * STRIP);
    ensure_len(sampled, height * OUT);
    col_sum.clear();
    col_sum.resize(width, 0.0);
    cols_idx.clear();
    cols_idx.extend((0..OUT).map(|j| decimation_index(j, width)));
    ensure_len(row_buf, width * STRIP);
    ensure_len(mid_rows, width * STRIP);

    // Pass 1 producer state: rows [0, produced) are in the ring.
    let mut produced = 0usize;
    let mut lane_sum = [0f32; STRIP];

    // Pass 3 state: pass-2 rows collected into `strip_mid` since `mid_start`.
    let mut mid_start = 0usize;

    for op in box_schedule(height, win_cols) {
        // Make sure the pass-1 row being added exists.
        if let Some(r) = op.add {
            while produced <= r {
                let r0 = produced;
                let n = STRIP.min(height - r0);
                // Luma rows r0..r0+n, row-major, then transposed into
                // strip_in[j * STRIP + lane] with contiguous 16-float stores.
                for lane in 0..n {
                    fill_row(r0 + lane, &mut row_buf[lane * width..(lane + 1) * width]);
                }
                row_buf[n * width..STRIP * width].fill(0.0);
                transpose_into_strip(row_buf, width, strip_in);
                // Pass 1 along the rows, lanes = the strip's rows: whole 16-lane divisions
                // and stores into the transposed output strip...
                lane_sum.fill(0.0);
                for bop in box_schedule(width, win_rows) {
                    apply(
                        &mut lane_sum,
                        bop.add.map(|j| &strip_in[j * STRIP..j * STRIP + STRIP]),
                        bop.sub.map(|j| &strip_in[j * STRIP..j * STRIP + STRIP]),
                    );
                    if let Some(j) = bop.out {
                        let q = divide(&lane_sum, bop.count);
                        strip_out[j * STRIP..j * STRIP + STRIP].copy_from_slice(&q);
                    }
                }
                // ...then back to rows, into the ring.
                let mut dst: [Option<&mut [f32]>; STRIP] = [const { None }; STRIP];
                for (k, row) in ring[..ring_rows * width]
                    .chunks_exact_mut(width)
                    .enumerate()
                {
                    // Ring row k holds image row r0 + lane when k ≡ r0 + lane (mod ring_rows),
                    // and the ring is longer than a strip.
                    let lane = (k + ring_rows - r0 % ring_rows) % ring_rows;
                    if lane < n {
                        dst[lane] = Some(row);
                    }
                }
                from_strip(strip_out, width, &mut dst);
                produced += n;
            }
        }
        // Pass 2 along the columns, lanes = all columns.
        apply(
            col_sum,
            op.add
                .map(|r| &ring[(r % ring_rows) * width..(r % ring_rows) * width + width]),
            op.sub
                .map(|r| &ring[(r % ring_rows) * width..(r % ring_rows) * width + width]),
        );
        let Some(oi) = op.out else { continue };
        let r = reciprocal(op.count);
        let lane = oi - mid_start;
        for (m, &s) in mid_rows[lane * width..(lane + 1) * width]
            .iter_mut()
            .zip(col_sum.iter())
        {
            *m = quotient(s, r);
        }
        if lane + 1 < STRIP && oi + 1 < height {
            continue;
        }
        // Pass 3 along the rows of the collected strip; keep only the sampled columns.
        let n = lane + 1;
        mid_rows[n * width..STRIP * width].fill(0.0);
        transpose_into_strip(mid_rows, width, strip_mid);
        lane_sum.fill(0.0);
        let mut next = 0usize; // next sampled column to look for
        for bop in box_schedule(width, win_rows) {
            apply(
                &mut lane_sum,
                bop.add.map(|j| &strip_mid[j * STRIP..j * STRIP + STRIP]),
                bop.sub.map(|j| &strip_mid[j * STRIP..j * STRIP + STRIP]),
            );
            if let Some(j) = bop.out {
                while next < OUT && cols_idx[next] == j {
                    let q = divide(&lane_sum, bop.count);
                    for (l, &v) in q.iter().enumerate().take(n) {
                        sampled[(mid_start + l) * OUT + next] = v;
                    }
                    next += 1;
                }
            }
        }
        mid_start += n;
    }

    // Pass 4 along the 64 sampled columns; keep only the sampled rows.
    let mut sum64 = [0f32; OUT];
    let mut next = 0usize;
    for op in box_schedule(height, win_cols) {
        apply(
            &mut sum64,
            op.add.map(|r| &sampled[r * OUT..r * OUT + OUT]),
            op.sub.map(|r| &sampled[r * OUT..r * OUT + OUT]),
        );
        if let Some(r) = op.out {
            while next < OUT && decimation_index(next, height) == r {
                let r = reciprocal(op.count);
                for (o, &s) in out[next * OUT..next * OUT + OUT].iter_mut().zip(&sum64) {
                    *o = quotient(s, r);
                }
                next += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotients_through_the_f64_reciprocal_equal_f32_division() {
        let mut rng = crate::rng::Rng::new(3);
        let mut values: Vec<f32> = (0..2000)
            .map(|_| {
                // Every exponent from 2⁻⁴⁰ to 2⁴⁰, random significands, and some whole numbers.
                let bits = rng.next_u64();
                let e = (bits >> 32) % 81;
                f32::from_bits(((e as u32 + 87) << 23) | (bits as u32 & 0x7f_ffff))
            })
            .collect();
        values.extend((0..300).map(|v| v as f32));
        values.extend([0.0, -0.0, -1.5, f32::MAX, f32::MIN_POSITIVE]);
        for count in 1..=4096u32 {
            let r = reciprocal(count);
            for &s in &values {
                assert_eq!(
                    quotient(s, r).to_bits(),
                    (s / count as f32).to_bits(),
                    "{s} / {count}"
                );
            }
        }
    }

    /// Straight port of the reference `box1DFloat`.
    fn box1d_reference(input: &[f32], stride: usize, n: usize, window: usize, out: &mut [f32]) {
        let half = (window + 2) / 2;
        let (p1, p2, p3, p4) = (half - 1, window - half + 1, n - window, half - 1);
        let (mut li, mut ri, mut oi) = (0, 0, 0);
        let mut sum = 0f32;
        let mut cnt = 0i32;
        for _ in 0..p1 {
            sum += input[ri];
            cnt += 1;
            ri += stride;
        }
        for _ in 0..p2 {
            sum += input[ri];
            cnt += 1;
            out[oi] = sum / cnt as f32;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p3 {
            sum += input[ri];
            sum -= input[li];
            out[oi] = sum / cnt as f32;
            li += stride;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p4 {
            sum -= input[li];
            cnt -= 1;
            out[oi] = sum / cnt as f32;
            li += stride;
            oi += stride;
        }
    }

    /// Straight port of `jaroszFilterFloat` (2 passes) + `decimateFloat`.
    pub(crate) fn downsample_reference(luma: &[f32], w: usize, h: usize) -> Vec<f32> {
        let mut b1 = luma.to_vec();
        let mut b2 = vec![0f32; w * h];
        let (wr, wc) = (window_size(w), window_size(h));
        for _ in 0..2 {
            for i in 0..h {
                box1d_reference(&b1[i * w..], 1, w, wr, &mut b2[i * w..]);
            }
            for j in 0..w {
                box1d_reference(&b2[j..], w, h, wc, &mut b1[j..]);
            }
        }
        let mut out = vec![0f32; 64 * 64];
        for i in 0..64 {
            let ini = decimation_index(i, h);
            for j in 0..64 {
                out[i * 64 + j] = b1[ini * w + decimation_index(j, w)];
            }
        }
        out
    }

    fn check(w: usize, h: usize, seed: u64) {
        let mut state = seed;
        let luma: Vec<f32> = (0..w * h)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 256) as f32 * 0.999
            })
            .collect();
        let expected = downsample_reference(&luma, w, h);
        let mut scratch = JaroszScratch::default();
        let mut out = [0f32; 64 * 64];
        downsample(
            w,
            h,
            &mut scratch,
            |r, row| row.copy_from_slice(&luma[r * w..r * w + w]),
            &mut out,
        );
        for (k, (a, b)) in out.iter().zip(&expected).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{w}x{h} seed {seed}: sample {k}");
        }
    }

    #[test]
    fn streaming_filter_is_bit_exact_with_reference() {
        for (i, &(w, h)) in [
            (5, 5),
            (5, 200),
            (200, 5),
            (64, 64),
            (63, 65),
            (127, 129),
            (128, 128),
            (129, 300),
            (301, 17),
            (17, 33),
            (500, 377),
            (1000, 41),
        ]
        .iter()
        .enumerate()
        {
            check(w, h, i as u64 + 1);
        }
    }

    #[test]
    fn schedule_matches_reference_phases() {
        // 16 elements, window 7: the worked example in downscaling.cpp.
        let ops: Vec<_> = box_schedule(16, 7).collect();
        assert_eq!(ops.iter().filter(|o| o.out.is_some()).count(), 16);
        assert_eq!(ops[3].out, Some(0));
        assert_eq!(ops[3].count, 4);
        assert_eq!(ops.last().unwrap().count, 4);
        assert_eq!(window_size(128), 1);
        assert_eq!(window_size(129), 2);
        assert_eq!(window_size(2000), 16);
    }
}
