// pdq_dct.wgsl: B = D · A · Dᵀ, the 16×16 DCT of each image's 64×64 block, with the CPU
// reference's order of operations: every sum runs over k upwards from 0.0, one rounding per
// product (`mul_rounded`, no FMA contraction) and one per addition (`opaque`, no
// reassociation). D is the 16×64 matrix
// uploaded from `hash::dct_matrix()`.
// One workgroup of 256 invocations per image. Dispatch: (num_images, 1, 1).
//
// Bindings used (group 0, declared in pdq_common.wgsl):
//   0 uniform Params (ParamsGpu), 3 read tables (f32), 6 read_write small (f32, input 64×64,
//   output 256 coefficients after it)

// The algorithm assigns one output coefficient per invocation: the size is fixed.
const WG: u32 = 256u;

var<workgroup> t: array<f32, 1024>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m = wid.x;
    if (m >= params.num_images) {
        return;
    }
    let base = m * params.small_stride;
    let d = params.table_dct;
    // T = D · A (16×64): T[i][j] = Σ_k D[i][k] · A[k][j].
    for (var e = lid; e < 1024u; e += WG) {
        let i = e / 64u;
        let j = e % 64u;
        var s = 0.0;
        for (var k = 0u; k < 64u; k++) {
            s = opaque(s + mul_rounded(tables[d + i * 64u + k], small[base + k * 64u + j]));
        }
        t[e] = s;
    }
    workgroupBarrier();
    // B = T · Dᵀ (16×16): B[i][j] = Σ_k T[i][k] · D[j][k].
    let i = lid / 16u;
    let j = lid % 16u;
    var s = 0.0;
    for (var k = 0u; k < 64u; k++) {
        s = opaque(s + mul_rounded(t[i * 64u + k], tables[d + j * 64u + k]));
    }
    small[base + OUT * OUT + lid] = s;
}
