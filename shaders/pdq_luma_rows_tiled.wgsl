// pdq_luma_rows_tiled.wgsl: Jarosz pass 1 as in pdq_luma_rows.wgsl (the same running sum of
// each row, in the same order), with a workgroup's rows staged through workgroup memory so
// that global reads and writes are contiguous across invocations instead of one row apart
// (RowTile in pdq_common.wgsl). Per tile of TILE_STEPS filter steps: the invocations load the
// luma entering and leaving the window of every row (neighbouring invocations take
// neighbouring pixels), each invocation then runs its own row's steps out of workgroup memory,
// and the outputs are stored the same contiguous way.
// Dispatch: (div_ceil(max height, TILE_ROWS), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 2 read pixels (u8 packed),
//   3 read tables (f32), 4 read_write plane_a (f32, output: height × width)

var<workgroup> entering: array<f32, TILE_ROWS * TILE_PITCH>;
var<workgroup> leaving: array<f32, TILE_ROWS * TILE_PITCH>;
var<workgroup> filtered: array<f32, TILE_ROWS * TILE_PITCH>;

@compute @workgroup_size(TILE_ROWS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    // Every condition before a barrier is the same for the whole workgroup.
    let tile = row_tile(wg);
    if (tile.rows == 0u) {
        return;
    }
    let img = tile.img;
    let n = tile.n;
    let ls = t % TILE_STEPS;
    let lr = t / TILE_STEPS;
    let base = img.plane_offset + tile.row0 * n;
    var sum = 0.0;
    for (var k0 = 0u; k0 < tile.steps; k0 += TILE_STEPS) {
        let k = k0 + ls;
        for (var r = lr; r < tile.rows; r += TILE_ROWS / TILE_STEPS) {
            let px = (tile.row0 + r) * n;
            if (k < n) {
                entering[r * TILE_PITCH + ls] = luma(img, px + k);
            }
            if (k >= tile.window && k < tile.steps) {
                leaving[r * TILE_PITCH + ls] = luma(img, px + k - tile.window);
            }
        }
        workgroupBarrier();
        if (t < tile.rows) {
            for (var s = 0u; s < TILE_STEPS && k0 + s < tile.steps; s++) {
                let j = k0 + s;
                let at = t * TILE_PITCH + s;
                sum = tile_sum(tile, j, sum, entering[at], leaving[at]);
                if (j >= tile.p1) {
                    filtered[at] = div_count(sum, tile_count(tile, j));
                }
            }
        }
        workgroupBarrier();
        if (k >= tile.p1 && k < tile.steps) {
            for (var r = lr; r < tile.rows; r += TILE_ROWS / TILE_STEPS) {
                plane_a[base + r * n + k - tile.p1] = filtered[r * TILE_PITCH + ls];
            }
        }
    }
}
