// pdq_box_rows_tiled.wgsl: Jarosz pass 3 as in pdq_box_rows.wgsl (the same running sum of each
// row of plane_b, stored at the 64 sampled columns into plane_a as height × 64), with the
// values entering and leaving the window of the workgroup's rows staged through workgroup
// memory, loaded by neighbouring invocations from neighbouring columns (RowTile in
// pdq_common.wgsl; see pdq_luma_rows_tiled.wgsl).
// Dispatch: (div_ceil(max height, TILE_ROWS), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 3 read tables (f32),
//   4 read_write plane_a (f32, output: height × 64), 5 read_write plane_b (f32, input)

var<workgroup> entering: array<f32, TILE_ROWS * TILE_PITCH>;
var<workgroup> leaving: array<f32, TILE_ROWS * TILE_PITCH>;

@compute @workgroup_size(TILE_ROWS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    // Every condition before a barrier is the same for the whole workgroup.
    let tile = row_tile(wg);
    if (tile.rows == 0u) {
        return;
    }
    let n = tile.n;
    let ls = t % TILE_STEPS;
    let lr = t / TILE_STEPS;
    let src = tile.img.plane_offset + tile.row0 * n;
    let dst = tile.img.plane_offset + (tile.row0 + t) * OUT;
    var sum = 0.0;
    var next = 0u;
    for (var k0 = 0u; k0 < tile.steps; k0 += TILE_STEPS) {
        let k = k0 + ls;
        for (var r = lr; r < tile.rows; r += TILE_ROWS / TILE_STEPS) {
            if (k < n) {
                entering[r * TILE_PITCH + ls] = plane_b[src + r * n + k];
            }
            if (k >= tile.window && k < tile.steps) {
                leaving[r * TILE_PITCH + ls] = plane_b[src + r * n + k - tile.window];
            }
        }
        workgroupBarrier();
        if (t < tile.rows) {
            for (var s = 0u; s < TILE_STEPS && k0 + s < tile.steps; s++) {
                let j = k0 + s;
                let at = t * TILE_PITCH + s;
                sum = tile_sum(tile, j, sum, entering[at], leaving[at]);
                if (j >= tile.p1) {
                    while (next < OUT && decimation_index(next, n) == j - tile.p1) {
                        plane_a[dst + next] = div_count(sum, tile_count(tile, j));
                        next++;
                    }
                }
            }
        }
        workgroupBarrier();
    }
}
