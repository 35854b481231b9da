// pdq_threshold.wgsl: the hash bits. For image m and dihedral variant v (0 = original), the
// coefficients are permuted and sign-flipped as `hash::Dihedral::transform_dct` does; bit k is
// set when coefficient k is strictly greater than the lower median (the 128th smallest in
// `f32::total_cmp` order, found by ranking with ties broken by index).
// One workgroup of 256 invocations per (image, variant).
// Dispatch: (num_images, num_variants, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 6 read_write small (f32, input: 256 coefficients),
//   7 read_write results (PdqResultGpu, output: bits[v * 8 .. v * 8 + 8])

// One coefficient per invocation: the size is fixed.
const WG: u32 = 256u;

var<workgroup> coef: array<f32, 256>;
var<workgroup> keys: array<u32, 256>;
var<workgroup> median: f32;
var<workgroup> words: array<atomic<u32>, 8>;

// Maps f32 bits to u32 so that unsigned order is f32::total_cmp order.
fn total_order_key(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if ((b & 0x80000000u) != 0u) {
        return ~b;
    }
    return b | 0x80000000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m = wid.x;
    let variant = wid.y;
    if (m >= params.num_images || variant >= params.num_variants) {
        return;
    }
    if (lid < 8u) {
        atomicStore(&words[lid], 0u);
    }
    let v = small[m * params.small_stride + OUT * OUT + lid];
    let i = lid / 16u;
    let j = lid % 16u;
    let odd_i = (i & 1u) == 1u;
    let odd_j = (j & 1u) == 1u;
    let even_sum = ((i + j) & 1u) == 0u;
    var idx = lid;
    var keep = true;
    switch variant {
        case 1u: { idx = j * 16u + i; keep = odd_j; }
        case 2u: { keep = even_sum; }
        case 3u: { idx = j * 16u + i; keep = odd_i; }
        case 4u: { keep = odd_i; }
        case 5u: { keep = odd_j; }
        case 6u: { idx = j * 16u + i; }
        case 7u: { idx = j * 16u + i; keep = even_sum; }
        default: {}
    }
    var x = v;
    if (!keep) {
        x = -v;
    }
    coef[idx] = x;
    keys[idx] = total_order_key(x);
    workgroupBarrier();
    let mine = keys[lid];
    var rank = 0u;
    for (var k = 0u; k < 256u; k++) {
        let other = keys[k];
        if (other < mine || (other == mine && k < lid)) {
            rank++;
        }
    }
    if (rank == 127u) {
        median = coef[lid];
    }
    workgroupBarrier();
    if (coef[lid] > median) {
        atomicOr(&words[lid / 32u], 1u << (lid % 32u));
    }
    workgroupBarrier();
    if (lid < 8u) {
        results[m].bits[variant * 8u + lid] = atomicLoad(&words[lid]);
    }
}
