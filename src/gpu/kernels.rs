//! Compute pipelines: one struct per kernel, all sharing the PDQ bind group layout.
//!
//! The layout is explicit (no auto layouts): binding numbers, access and `min_binding_size`
//! (from the Rust mirror types in `layout`) match the declarations in
//! `shaders/pdq_common.wgsl`. Workgroup sizes of the per-row and per-column kernels are
//! `override` constants set here from [`ROW_WORKGROUP`]. [`PdqKernels::sequence`] is the
//! dispatch order of a batch.

use super::context::{GpuContext, RowKernels};
use super::error::Result;
use super::layout::{ImageDescGpu, ParamsGpu, PdqResultGpu, OUT};
use super::shaders::{self, ShaderSource};
use std::num::NonZeroU64;

/// Invocations per workgroup of the row/column kernels (one invocation per row or column).
pub(crate) const ROW_WORKGROUP: u32 = 64;

fn min_size<T>() -> Option<NonZeroU64> {
    NonZeroU64::new(std::mem::size_of::<T>() as u64)
}

fn storage(binding: u32, read_only: bool, min: Option<NonZeroU64>) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: min,
        },
        count: None,
    }
}

/// The bind group layout of every PDQ kernel (see `shaders/pdq_common.wgsl`).
pub(crate) fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("pdq.bind_group_layout"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: min_size::<ParamsGpu>(),
                },
                count: None,
            },
            storage(1, true, min_size::<ImageDescGpu>()),
            storage(2, true, min_size::<u32>()),
            storage(3, true, min_size::<f32>()),
            storage(4, false, min_size::<f32>()),
            storage(5, false, min_size::<f32>()),
            storage(6, false, min_size::<f32>()),
            storage(7, false, min_size::<PdqResultGpu>()),
        ],
    })
}

fn pipeline(
    ctx: &GpuContext,
    layout: &wgpu::PipelineLayout,
    src: ShaderSource,
    workgroup: Option<u32>,
) -> wgpu::ComputePipeline {
    let module_label = format!("{}.module", src.name);
    let pipeline_label = format!("{}.pipeline", src.name);
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&module_label),
            source: wgpu::ShaderSource::Wgsl(src.source.into()),
        });
    let constants: Vec<(&str, f64)> = workgroup
        .map(|wg| ("WG", f64::from(wg)))
        .into_iter()
        .collect();
    ctx.device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&pipeline_label),
            layout: Some(layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        })
}

/// The kernels of one batch, in dispatch order: name, source, workgroup size override.
const KERNELS: [(&str, ShaderSource, Option<u32>); NUM_KERNELS] = [
    // pixels → luma → pass 1 along rows
    ("luma_rows", shaders::PDQ_LUMA_ROWS, Some(ROW_WORKGROUP)),
    // pass 2 along columns
    ("box_cols", shaders::PDQ_BOX_COLS, Some(ROW_WORKGROUP)),
    // pass 3 along rows, at the sampled columns
    ("box_rows", shaders::PDQ_BOX_ROWS, Some(ROW_WORKGROUP)),
    // pass 4 along the sampled columns, at the sampled rows
    (
        "decimate_cols",
        shaders::PDQ_DECIMATE_COLS,
        Some(ROW_WORKGROUP),
    ),
    // quality metric, one workgroup per image
    ("quality", shaders::PDQ_QUALITY, Some(ROW_WORKGROUP)),
    // 16×16 DCT, one workgroup of 256 per image
    ("dct", shaders::PDQ_DCT, None),
    // median threshold per image and dihedral variant
    ("threshold", shaders::PDQ_THRESHOLD, None),
];

/// The kernels with [`RowKernels::Tiled`]: the two row passes replaced, same dispatch counts
/// (their workgroup size is fixed in the shader at [`ROW_WORKGROUP`], checked by a test).
fn kernels(rows: RowKernels) -> [(&'static str, ShaderSource, Option<u32>); NUM_KERNELS] {
    let mut k = KERNELS;
    if rows == RowKernels::Tiled {
        k[0] = ("luma_rows", shaders::PDQ_LUMA_ROWS_TILED, None);
        k[2] = ("box_rows", shaders::PDQ_BOX_ROWS_TILED, None);
    }
    k
}

/// How many kernels one batch dispatches.
pub(crate) const NUM_KERNELS: usize = 7;

/// The kernel names in dispatch order (for profiles).
pub(crate) fn kernel_names() -> [&'static str; NUM_KERNELS] {
    KERNELS.map(|(name, _, _)| name)
}

/// All PDQ pipelines and their shared layout, built once per device.
pub(crate) struct PdqKernels {
    pub bind_group_layout: wgpu::BindGroupLayout,
    pipelines: [wgpu::ComputePipeline; NUM_KERNELS],
}

impl PdqKernels {
    /// Compiles every kernel inside error scopes, with the row passes chosen by `rows`.
    pub fn new(ctx: &GpuContext, rows: RowKernels) -> Result<Self> {
        ctx.scoped("pipeline creation", || {
            let bind_group_layout = bind_group_layout(&ctx.device);
            let layout = ctx
                .device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("pdq.pipeline_layout"),
                    bind_group_layouts: &[Some(&bind_group_layout)],
                    immediate_size: 0,
                });
            PdqKernels {
                pipelines: kernels(rows).map(|(_, src, wg)| pipeline(ctx, &layout, src, wg)),
                bind_group_layout,
            }
        })
    }

    /// The dispatches of one batch of `n` images at most `max_w` × `max_h` pixels, with
    /// `variants` hashes each (1, or 8 for the dihedral hashes): each kernel's pipeline and
    /// workgroup counts, in order.
    pub fn sequence(
        &self,
        n: u32,
        max_w: u32,
        max_h: u32,
        variants: u32,
    ) -> [(&wgpu::ComputePipeline, [u32; 3]); NUM_KERNELS] {
        let rows = max_h.div_ceil(ROW_WORKGROUP);
        let cols = max_w.div_ceil(ROW_WORKGROUP);
        let groups = [
            [rows, n, 1],
            [cols, n, 1],
            [rows, n, 1],
            [OUT.div_ceil(ROW_WORKGROUP), n, 1],
            [n, 1, 1],
            [n, 1, 1],
            [n, variants, 1],
        ];
        std::array::from_fn(|k| (&self.pipelines[k], groups[k]))
    }
}

/// Rust mirrors of the shaders' arithmetic helpers, checked against the CPU reference.
#[cfg(test)]
pub(crate) mod mirror {
    /// `two_sum` in `pdq_common.wgsl`.
    fn two_sum(a: f32, b: f32) -> (f32, f32) {
        let s = a + b;
        let bb = s - a;
        (s, (a - (s - bb)) + (b - bb))
    }

    /// `luma` (RGB branch) in `pdq_common.wgsl`, reading the same tables.
    pub fn luma(t: &[f32], r: u8, g: u8, b: u8) -> f32 {
        let at =
            |c: usize, v: u8| super::super::layout::TABLE_RGB as usize + (c * 256 + v as usize) * 2;
        let (tr, tg, tb) = (at(0, r), at(1, g), at(2, b));
        let s = two_sum(t[tr], t[tg]);
        let s = two_sum(s.0, s.1 + (t[tr + 1] + t[tg + 1]));
        let u = two_sum(s.0, t[tb]);
        let u = two_sum(u.0, u.1 + (s.1 + t[tb + 1]));
        u.0 + u.1
    }

    fn opaque(x: f32) -> f32 {
        x
    }

    /// `residual` in `pdq_common.wgsl`.
    fn residual(sum: f32, q: f32, cf: f32) -> f32 {
        let hi = f32::from_bits(q.to_bits() & 0xffff_f000);
        let lo = opaque(q - hi);
        let a = opaque(sum - opaque(hi * cf));
        opaque(a - opaque(lo * cf))
    }

    /// `div_count` in `pdq_common.wgsl`.
    pub fn div_count(t: &[f32], sum: f32, c: u32) -> f32 {
        let cf = c as f32;
        let q0 = opaque(sum * t[c as usize]);
        if q0 == 0.0 {
            return q0;
        }
        let bits = q0.to_bits();
        let mut best = q0;
        let mut best_r = residual(sum, q0, cf).abs();
        for cand_bits in [bits.wrapping_add(1), bits.wrapping_sub(1)] {
            let cand = f32::from_bits(cand_bits);
            let r = residual(sum, cand, cf).abs();
            if r < best_r || (r == best_r && cand_bits & 1 == 0) {
                best = cand;
                best_r = r;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{tables, NUM_RECIP};
    use super::mirror;

    /// Every (r, g, b): the double-f32 luma equals the CPU's f64 luma rounded to f32.
    #[test]
    fn shader_luma_equals_cpu_luma_for_every_rgb_value() {
        let t = tables();
        let mut bad = 0u32;
        for r in 0..=255u8 {
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    if mirror::luma(&t, r, g, b).to_bits() != crate::hash::luma(r, g, b).to_bits() {
                        bad += 1;
                    }
                }
            }
        }
        assert_eq!(bad, 0);
    }

    /// The corrected division equals IEEE `/` for the sums and counts the filter produces.
    #[test]
    fn corrected_division_is_correctly_rounded() {
        let t = tables();
        let mut rng = crate::rng::Rng::new(1);
        for c in 1..NUM_RECIP {
            for _ in 0..200 {
                let bits = rng.next_u64();
                let sum = (bits >> 40) as f32 / (1u64 << 24) as f32 * 255.0 * c as f32;
                let sum = if bits & 1 == 1 { -sum } else { sum };
                assert_eq!(
                    mirror::div_count(&t, sum, c).to_bits(),
                    (sum / c as f32).to_bits(),
                    "{sum} / {c}"
                );
            }
        }
        // Quality: (u - v) * 100 / 255 for every pair of 8-bit-ish values on a grid.
        for u in 0..=1020 {
            for v in (0..=1020).step_by(17) {
                let x = (u as f32 * 0.25 - v as f32 * 0.25) * 100.0;
                assert_eq!(
                    mirror::div_count(&t, x, 255).to_bits(),
                    (x / 255.0).to_bits()
                );
            }
        }
    }
}
