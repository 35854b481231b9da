// pdq_box_rows.wgsl: Jarosz pass 3. One invocation per image row: box filter along the row
// (window win_w) of plane_b, stored only at the 64 columns that decimation samples, into
// plane_a as height × 64 values.
// Dispatch: (div_ceil(max height, WG), num_images, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 1 read images (ImageDescGpu), 3 read tables (f32),
//   4 read_write plane_a (f32, output: height × 64), 5 read_write plane_b (f32, input)

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
    let src = img.plane_offset + row * n;
    let dst = img.plane_offset + row * OUT;
    var sum = 0.0;
    var count = 0u;
    var ri = 0u;
    var li = 0u;
    var oi = 0u;
    var next = 0u;
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum + plane_b[src + ri]);
        ri++;
        count++;
    }
    for (var k = 0u; k < p2; k++) {
        sum = opaque(sum + plane_b[src + ri]);
        ri++;
        count++;
        while (next < OUT && decimation_index(next, n) == oi) {
            plane_a[dst + next] = div_count(sum, count);
            next++;
        }
        oi++;
    }
    for (var k = 0u; k < p3; k++) {
        sum = opaque(opaque(sum + plane_b[src + ri]) - plane_b[src + li]);
        ri++;
        li++;
        while (next < OUT && decimation_index(next, n) == oi) {
            plane_a[dst + next] = div_count(sum, count);
            next++;
        }
        oi++;
    }
    for (var k = 0u; k < p1; k++) {
        sum = opaque(sum - plane_b[src + li]);
        count--;
        li++;
        while (next < OUT && decimation_index(next, n) == oi) {
            plane_a[dst + next] = div_count(sum, count);
            next++;
        }
        oi++;
    }
}
