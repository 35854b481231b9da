// pdq_luma_rows.wgsl: Jarosz pass 1. One invocation per image row: 8-bit pixels → luma → box
// filter along the row (window win_w), the exact running-sum schedule of the CPU reference.
// Dispatch: (div_ceil(max height, WG), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 2 read pixels (u8 packed),
//   3 read tables (f32), 4 read_write plane_a (f32, output: height × width)

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.y;
    if (m >= params.num_images) {
        return;
    }
    let img = images[m];
    let row = gid.x;
    if (row >= img.height || (img.flags & FLAG_SKIP_FILTER) != 0u) {
        return;
    }
    let n = img.width;
    let window = clamp(img.win_w, 1u, n);
    let half = (window + 2u) / 2u;
    let p1 = half - 1u;
    let p2 = window - half + 1u;
    let p3 = n - window;
    let px = row * n;
    let dst = img.plane_offset + row * n;
    var sum = 0.0;
    var count = 0u;
    var ri = 0u;
    var li = 0u;
    var oi = 0u;
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum + luma(img, px + ri));
        ri++;
        count++;
    }
    for (var k = 0u; k < p2; k++) {
        sum = opaque(sum + luma(img, px + ri));
        ri++;
        count++;
        plane_a[dst + oi] = div_count(sum, count);
        oi++;
    }
    for (var k = 0u; k < p3; k++) {
        sum = opaque(opaque(sum + luma(img, px + ri)) - luma(img, px + li));
        ri++;
        li++;
        plane_a[dst + oi] = div_count(sum, count);
        oi++;
    }
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum - luma(img, px + li));
        count--;
        li++;
        plane_a[dst + oi] = div_count(sum, count);
        oi++;
    }
}
