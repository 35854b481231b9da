// pdq_box_cols.wgsl: Jarosz pass 2. One invocation per image column: box filter down the
// column (window win_h) of plane_a, written to plane_b.
// Dispatch: (div_ceil(max width, WG), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 3 read tables (f32),
//   4 read_write plane_a (f32, input), 5 read_write plane_b (f32, output: height × width)

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.y;
    if (m >= params.num_images) {
        return;
    }
    let img = images[m];
    let col = gid.x;
    if (col >= img.width || (img.flags & FLAG_SKIP_FILTER) != 0u) {
        return;
    }
    let n = img.height;
    let w = img.width;
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
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum + plane_a[base + ri * w]);
        ri++;
        count++;
    }
    for (var k = 0u; k < p2; k++) {
        sum = opaque(sum + plane_a[base + ri * w]);
        ri++;
        count++;
        plane_b[base + oi * w] = div_count(sum, count);
        oi++;
    }
    for (var k = 0u; k < p3; k++) {
        sum = opaque(opaque(sum + plane_a[base + ri * w]) - plane_a[base + li * w]);
        ri++;
        li++;
        plane_b[base + oi * w] = div_count(sum, count);
        oi++;
    }
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum - plane_a[base + li * w]);
        count--;
        li++;
        plane_b[base + oi * w] = div_count(sum, count);
        oi++;
    }
}
