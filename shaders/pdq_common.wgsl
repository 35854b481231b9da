// pdq_common.wgsl: declarations and helpers shared by every PDQ kernel. `src/gpu/shaders.rs`
// places this text in front of each kernel file (no templating: both are fixed text).
//
// Bindings (group 0), one layout for all PDQ kernels (`PdqKernels` in src/gpu/kernels.rs):
//   0 uniform             Params              ParamsGpu
//   1 storage read        array<ImageDesc>    [ImageDescGpu]
//   2 storage read        array<u32>          packed 8-bit pixels, 4 per word, little-endian
//   3 storage read        array<f32>          tables: 1/c, DCT matrix, luma tables (layout::tables)
//   4 storage read_write  array<f32>          plane_a: pass-1 output, then pass-3 output (h × 64)
//   5 storage read_write  array<f32>          plane_b: pass-2 output
//   6 storage read_write  array<f32>          small: per image 64×64 decimated luma + 256 DCT
//   7 storage read_write  array<PdqResult>    [PdqResultGpu]
// Each kernel uses a subset and lists it at its top.

struct Params {
    num_images: u32,
    zero: u32,
    table_dct: u32,
    table_gray: u32,
    table_rgb: u32,
    num_recip: u32,
    small_stride: u32,
    num_variants: u32,
}

struct ImageDesc {
    width: u32,
    height: u32,
    bpp: u32,
    flags: u32,
    pixel_offset: u32,
    plane_offset: u32,
    win_w: u32,
    win_h: u32,
}

struct PdqResult {
    quality: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    bits: array<u32, 64>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<ImageDesc>;
@group(0) @binding(2) var<storage, read> pixels: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<f32>;
@group(0) @binding(4) var<storage, read_write> plane_a: array<f32>;
@group(0) @binding(5) var<storage, read_write> plane_b: array<f32>;
@group(0) @binding(6) var<storage, read_write> small: array<f32>;
@group(0) @binding(7) var<storage, read_write> results: array<PdqResult>;

const FLAG_SKIP_FILTER: u32 = 1u;
const OUT: u32 = 64u;

fn pixel_byte(b: u32) -> u32 {
    return (pixels[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

// `x`, hidden from the optimiser. Shader compilers may treat float operations as
// reassociable unless told otherwise (naga emits no `NoContraction`; Mesa's NIR, for one, then
// simplifies `(a + b) - a` to `b`), which would destroy the error-free sums below, let
// products fuse into FMAs, or regroup the running sums. XOR with `params.zero` (always 0)
// forces each rounded value, in the order written. Every running sum goes through it.
fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ params.zero);
}

// Error-free sum (Knuth's TwoSum): s + e == a + b exactly.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    let bb = opaque(s - a);
    let e = (a - opaque(s - bb)) + (b - bb);
    return vec2<f32>(s, e);
}

// Luma of pixel `i` (row-major index) of `img`, equal to the CPU's f64 computation rounded to
// f32: grey through a table; RGB as (R + G) + B in double-f32 from the [hi, lo] tables,
// rounded once at the end.
fn luma(img: ImageDesc, i: u32) -> f32 {
    if (img.bpp == 1u) {
        return tables[params.table_gray + pixel_byte(img.pixel_offset + i)];
    }
    let b0 = img.pixel_offset + i * 3u;
    let tr = params.table_rgb + pixel_byte(b0) * 2u;
    let tg = params.table_rgb + (256u + pixel_byte(b0 + 1u)) * 2u;
    let tb = params.table_rgb + (512u + pixel_byte(b0 + 2u)) * 2u;
    var s = two_sum(tables[tr], tables[tg]);
    s = two_sum(s.x, s.y + (tables[tr + 1u] + tables[tg + 1u]));
    var t = two_sum(s.x, tables[tb]);
    t = two_sum(t.x, t.y + (s.y + tables[tb + 1u]));
    return t.x + t.y;
}

// `sum - q * c` exactly, for a small integer `c` < 4096 and `q` within a few ulp of `sum / c`.
// `q` is split into two halves of at most 12 significant bits, so both products are exact;
// `sum - hi * c` is exact (the operands are within a factor of 2), and so is the last
// subtraction (its exact result is a small multiple of the operands' common unit).
fn residual(sum: f32, q: f32, cf: f32) -> f32 {
    let hi = bitcast<f32>(bitcast<u32>(q) & 0xfffff000u);
    let lo = opaque(q - hi);
    let a = opaque(sum - opaque(hi * cf));
    return opaque(a - opaque(lo * cf));
}

// `sum / c` correctly rounded (ties to even), using only `+ - *`, which WGSL rounds correctly.
// WGSL's `/` is accurate to 2.5 ulp only, and `fma` may be evaluated unfused (an FMA-based
// correction failed on lavapipe), so neither can be trusted for the CPU's quotient.
// `q0 = sum * RN(1/c)` is within 1 ulp of it; of q0 and its two neighbours, the quotient is
// the one with the smallest exact residual.
// `src/gpu/kernels.rs` tests the same steps against Rust's `/` for every count.
fn div_count(sum: f32, c: u32) -> f32 {
    let cf = f32(c);
    let q0 = opaque(sum * tables[c]);
    if (q0 == 0.0) {
        return q0;
    }
    let bits = bitcast<u32>(q0);
    var best = q0;
    var best_r = abs(residual(sum, q0, cf));
    for (var k = 0u; k < 2u; k++) {
        var cand_bits = bits + 1u;
        if (k == 1u) {
            cand_bits = bits - 1u;
        }
        let cand = bitcast<f32>(cand_bits);
        let r = abs(residual(sum, cand, cf));
        if (r < best_r || (r == best_r && (cand_bits & 1u) == 0u)) {
            best = cand;
            best_r = r;
        }
    }
    return best;
}

// `floor((i + 0.5) * n / 64)`, the reference's decimation index, in exact integer arithmetic.
fn decimation_index(i: u32, n: u32) -> u32 {
    return ((2u * i + 1u) * n) / 128u;
}

// A product rounded to f32 that the compiler cannot fuse with a following addition: the
// reference rounds every product before adding it. `params.zero` is always 0.
fn mul_rounded(a: f32, b: f32) -> f32 {
    return opaque(a * b);
}

// The tiled row passes (pdq_*_rows_tiled.wgsl). A workgroup filters TILE_ROWS rows of one
// image, one per invocation (`ROW_WORKGROUP` in src/gpu/kernels.rs), TILE_STEPS filter steps
// per tile; a tile row is TILE_PITCH values (one more than the steps, so that the invocations
// reading one column of a tile hit distinct banks).
const TILE_ROWS: u32 = 64u;
const TILE_STEPS: u32 = 16u;
const TILE_PITCH: u32 = 17u;

// The rows workgroup `wg` filters along (`rows` of them from `row0` of image `wg.y`; 0 when
// there is nothing to do, the same for every invocation) and their running-sum schedule: step
// k adds value k (k < n), drops value k − window (k ≥ window) and, from k = p1 on, gives
// output k − p1 — the four loops of the per-row passes, one after another.
struct RowTile {
    img: ImageDesc,
    row0: u32,
    rows: u32,
    n: u32,
    window: u32,
    p1: u32,
    steps: u32,
}

fn row_tile(wg: vec3<u32>) -> RowTile {
    var tile: RowTile;
    if (wg.y >= params.num_images) {
        return tile;
    }
    tile.img = images[wg.y];
    tile.row0 = wg.x * TILE_ROWS;
    if (tile.row0 >= tile.img.height || (tile.img.flags & FLAG_SKIP_FILTER) != 0u) {
        return tile;
    }
    tile.n = tile.img.width;
    tile.rows = min(TILE_ROWS, tile.img.height - tile.row0);
    tile.window = clamp(tile.img.win_w, 1u, tile.n);
    tile.p1 = (tile.window + 2u) / 2u - 1u;
    tile.steps = tile.n + tile.p1;
    return tile;
}

// The running sum after step j, from the sum before it and the values entering and leaving
// the window at that step (each used only when the step has one).
fn tile_sum(tile: RowTile, j: u32, sum: f32, entering: f32, leaving: f32) -> f32 {
    var s = sum;
    if (j < tile.n) {
        s = opaque(s + entering);
    }
    if (j >= tile.window) {
        s = opaque(s - leaving);
    }
    return s;
}

// How many values the window holds after step j.
fn tile_count(tile: RowTile, j: u32) -> u32 {
    if (j < tile.n) {
        return min(j + 1u, tile.window);
    }
    return tile.window - (j + 1u - tile.n);
}
