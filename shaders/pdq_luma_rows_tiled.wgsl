// pdq_luma_rows_tiled.wgsl: Jarosz pass 1 as in pdq_luma_rows.wgsl (the same running sum of
// each row, in the same order), with a workgroup's 64 rows staged through workgroup memory so
// that global reads and writes are contiguous across invocations instead of one row apart.
// Per tile of STEPS filter steps: the invocations load the luma entering and leaving the
// window of every row (neighbouring invocations take neighbouring pixels), each invocation
// then runs its own row's STEPS steps out of workgroup memory, and the outputs are stored the
// same contiguous way.
// Dispatch: (div_ceil(max height, ROWS), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 2 read pixels (u8 packed),
//   3 read tables (f32), 4 read_write plane_a (f32, output: height × width)

// Rows per workgroup, one per invocation: `ROW_WORKGROUP` in src/gpu/kernels.rs.
const ROWS: u32 = 64u;
// Filter steps per tile, and the tile's row pitch (one more, so that the invocations reading
// one column of a tile hit distinct banks).
const STEPS: u32 = 16u;
const PITCH: u32 = 17u;

var<workgroup> entering: array<f32, 1088>; // ROWS × PITCH
var<workgroup> leaving: array<f32, 1088>;
var<workgroup> filtered: array<f32, 1088>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    // Every condition before a barrier is the same for the whole workgroup.
    let m = wg.y;
    if (m >= params.num_images) {
        return;
    }
    let img = images[m];
    let row0 = wg.x * ROWS;
    if (row0 >= img.height || (img.flags & FLAG_SKIP_FILTER) != 0u) {
        return;
    }
    let n = img.width;
    let rows = min(ROWS, img.height - row0);
    let window = clamp(img.win_w, 1u, n);
    let p1 = (window + 2u) / 2u - 1u;
    // Step k adds pixel k (k < n), drops pixel k − window (k ≥ window) and, from k = p1 on,
    // stores output k − p1: the four loops of pdq_luma_rows.wgsl, one after another.
    let steps = n + p1;
    let ls = t % STEPS;
    let lr = t / STEPS;
    let base = img.plane_offset + row0 * n;
    var sum = 0.0;
    var count = 0u;
    for (var k0 = 0u; k0 < steps; k0 += STEPS) {
        let k = k0 + ls;
        for (var r = lr; r < rows; r += ROWS / STEPS) {
            let px = (row0 + r) * n;
            if (k < n) {
                entering[r * PITCH + ls] = luma(img, px + k);
            }
            if (k >= window && k < steps) {
                leaving[r * PITCH + ls] = luma(img, px + k - window);
            }
        }
        workgroupBarrier();
        if (t < rows) {
            for (var s = 0u; s < STEPS && k0 + s < steps; s++) {
                let j = k0 + s;
                if (j < n) {
                    sum = opaque(sum + entering[t * PITCH + s]);
                }
                if (j >= window) {
                    sum = opaque(sum - leaving[t * PITCH + s]);
                }
                if (j < window) {
                    count++;
                } else if (j >= n) {
                    count--;
                }
                if (j >= p1) {
                    filtered[t * PITCH + s] = div_count(sum, count);
                }
            }
        }
        workgroupBarrier();
        if (k >= p1 && k < steps) {
            for (var r = lr; r < rows; r += ROWS / STEPS) {
                plane_a[base + r * n + k - p1] = filtered[r * PITCH + ls];
            }
        }
    }
}
