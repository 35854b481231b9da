// pdq_quality.wgsl: the reference quality metric of each image's 64×64 block: the sum of
// |trunc((u - v) * 100 / 255)| over vertical and horizontal neighbours, / 90, capped at 100.
// One workgroup per image; the integer sum does not depend on the order of additions.
// Dispatch: (num_images, 1, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 3 read tables (f32), 6 read_write small (f32, input),
//   7 read_write results (PdqResultGpu, output: quality)

override WG: u32 = 64u;

var<workgroup> total: atomic<i32>;

fn gradient(u: f32, v: f32) -> i32 {
    return abs(i32(div_count((u - v) * 100.0, 255u)));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m = wid.x;
    if (m >= params.num_images) {
        return;
    }
    if (lid == 0u) {
        atomicStore(&total, 0);
    }
    workgroupBarrier();
    let base = m * params.small_stride;
    var sum = 0;
    for (var i = lid; i < OUT; i += WG) {
        for (var j = 0u; j < OUT; j++) {
            let u = small[base + i * OUT + j];
            if (i + 1u < OUT) {
                sum += gradient(u, small[base + (i + 1u) * OUT + j]);
            }
            if (j + 1u < OUT) {
                sum += gradient(u, small[base + i * OUT + j + 1u]);
            }
        }
    }
    atomicAdd(&total, sum);
    workgroupBarrier();
    if (lid == 0u) {
        results[m].quality = u32(min(atomicLoad(&total) / 90, 100));
    }
}
