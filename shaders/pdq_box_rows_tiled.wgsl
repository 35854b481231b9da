// pdq_box_rows_tiled.wgsl: Jarosz pass 3 as in pdq_box_rows.wgsl (the same running sum of each
// row of plane_b, stored at the 64 sampled columns into plane_a as height × 64), with the
// values entering and leaving the window of the workgroup's 64 rows staged through workgroup
// memory, loaded by neighbouring invocations from neighbouring columns (see
// pdq_luma_rows_tiled.wgsl).
// Dispatch: (div_ceil(max height, ROWS), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 3 read tables (f32),
//   4 read_write plane_a (f32, output: height × 64), 5 read_write plane_b (f32, input)

// Rows per workgroup, one per invocation: `ROW_WORKGROUP` in src/gpu/kernels.rs.
const ROWS: u32 = 64u;
// Filter steps per tile, and the tile's row pitch (one more: distinct banks per column).
const STEPS: u32 = 16u;
const PITCH: u32 = 17u;

var<workgroup> entering: array<f32, 1088>; // ROWS × PITCH
var<workgroup> leaving: array<f32, 1088>;

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
    let steps = n + p1;
    let ls = t % STEPS;
    let lr = t / STEPS;
    let src = img.plane_offset + row0 * n;
    let dst = img.plane_offset + (row0 + t) * OUT;
    var sum = 0.0;
    var count = 0u;
    var next = 0u;
    for (var k0 = 0u; k0 < steps; k0 += STEPS) {
        let k = k0 + ls;
        for (var r = lr; r < rows; r += ROWS / STEPS) {
            if (k < n) {
                entering[r * PITCH + ls] = plane_b[src + r * n + k];
            }
            if (k >= window && k < steps) {
                leaving[r * PITCH + ls] = plane_b[src + r * n + k - window];
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
                    while (next < OUT && decimation_index(next, n) == j - p1) {
                        plane_a[dst + next] = div_count(sum, count);
                        next++;
                    }
                }
            }
        }
        workgroupBarrier();
    }
}
