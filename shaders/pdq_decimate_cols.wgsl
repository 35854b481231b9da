// pdq_decimate_cols.wgsl: Jarosz pass 4 and decimation. One invocation per sampled column
// (64 per image): box filter down the column (window win_h) of plane_a's height × 64 values,
// kept only at the 64 sampled rows, into the image's 64×64 block of `small`. For an image
// flagged FLAG_SKIP_FILTER (exactly 64×64, non-dihedral hash) the luma is copied instead.
// Dispatch: (div_ceil(64, WG), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 2 read pixels (u8 packed),
//   3 read tables (f32), 4 read_write plane_a (f32, input), 6 read_write small (f32, output)

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.y;
    if (m >= params.num_images) {
        return;
    }
    let img = images[m];
    let col = gid.x;
    if (col >= OUT) {
        return;
    }
    let out = m * params.small_stride + col;
    if ((img.flags & FLAG_SKIP_FILTER) != 0u) {
        for (var i = 0u; i < OUT; i++) {
            small[out + i * OUT] = luma(img, i * OUT + col);
        }
        return;
    }
    let n = img.height;
    let window = clamp(img.win_h, 1u, n);
    let half = (window + 2u) / 2u;
    let p1 = half - 1u;
    let p2 = window - half + 1u;
    let p3 = n - window;
    let base = img.plane_offset + col;
    var sum = 0.0;
    var count = 0u;
    var ri = 0u;
    var li = 0u;
    var oi = 0u;
    var next = 0u;
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum + plane_a[base + ri * OUT]);
        ri++;
        count++;
    }
    for (var k = 0u; k < p2; k++) {
        sum = opaque(sum + plane_a[base + ri * OUT]);
        ri++;
        count++;
        while (next < OUT && decimation_index(next, n) == oi) {
            small[out + next * OUT] = div_count(sum, count);
            next++;
        }
        oi++;
    }
    for (var k = 0u; k < p3; k++) {
        sum = opaque(opaque(sum + plane_a[base + ri * OUT]) - plane_a[base + li * OUT]);
        ri++;
        li++;
        while (next < OUT && decimation_index(next, n) == oi) {
            small[out + next * OUT] = div_count(sum, count);
            next++;
        }
        oi++;
    }
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum - plane_a[base + li * OUT]);
        count--;
        li++;
        while (next < OUT && decimation_index(next, n) == oi) {
            small[out + next * OUT] = div_count(sum, count);
            next++;
        }
        oi++;
    }
}
