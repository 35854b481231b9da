//! WGSL sources of the PDQ kernels: the only file that names `shaders/`.
//!
//! Every kernel file is compiled after `shaders/pdq_common.wgsl`, which declares the shared
//! bind group and the arithmetic helpers (exact luma, corrected division, unfused products).
//! Both parts are fixed text joined at compile time; nothing is generated.

/// One compute kernel: its name (file stem, also used in labels) and full WGSL source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShaderSource {
    /// File stem, e.g. `pdq_dct`.
    pub name: &'static str,
    /// `pdq_common.wgsl` followed by the kernel file.
    pub source: &'static str,
}

macro_rules! shader {
    ($name:literal) => {
        ShaderSource {
            name: $name,
            source: concat!(
                include_str!("../../shaders/pdq_common.wgsl"),
                "\n",
                include_str!(concat!("../../shaders/", $name, ".wgsl"))
            ),
        }
    };
}

/// Pass 1: pixels → luma → box filter along rows.
pub(crate) const PDQ_LUMA_ROWS: ShaderSource = shader!("pdq_luma_rows");
/// Pass 1 with the rows of a workgroup staged through workgroup memory.
pub(crate) const PDQ_LUMA_ROWS_TILED: ShaderSource = shader!("pdq_luma_rows_tiled");
/// Pass 2: box filter along columns.
pub(crate) const PDQ_BOX_COLS: ShaderSource = shader!("pdq_box_cols");
/// Pass 3: box filter along rows, kept at the 64 sampled columns.
pub(crate) const PDQ_BOX_ROWS: ShaderSource = shader!("pdq_box_rows");
/// Pass 3 with the rows of a workgroup staged through workgroup memory.
pub(crate) const PDQ_BOX_ROWS_TILED: ShaderSource = shader!("pdq_box_rows_tiled");
/// Pass 4: box filter along the 64 sampled columns, kept at the 64 sampled rows.
pub(crate) const PDQ_DECIMATE_COLS: ShaderSource = shader!("pdq_decimate_cols");
/// Quality metric of the 64×64 block.
pub(crate) const PDQ_QUALITY: ShaderSource = shader!("pdq_quality");
/// 64×64 → 16×16 DCT.
pub(crate) const PDQ_DCT: ShaderSource = shader!("pdq_dct");
/// Median threshold of the original and the seven other dihedral variants.
pub(crate) const PDQ_THRESHOLD: ShaderSource = shader!("pdq_threshold");

/// Every kernel: the dispatch order, then the tiled row passes.
#[cfg(test)]
pub(crate) const ALL: [ShaderSource; 9] = [
    PDQ_LUMA_ROWS,
    PDQ_BOX_COLS,
    PDQ_BOX_ROWS,
    PDQ_DECIMATE_COLS,
    PDQ_QUALITY,
    PDQ_DCT,
    PDQ_THRESHOLD,
    PDQ_LUMA_ROWS_TILED,
    PDQ_BOX_ROWS_TILED,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &ShaderSource) -> naga::Module {
        naga::front::wgsl::parse_str(src.source)
            .unwrap_or_else(|e| panic!("{}: {}", src.name, e.emit_to_string(src.source)))
    }

    #[test]
    fn every_shader_parses_and_validates() {
        for src in ALL {
            let module = parse(&src);
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", src.name, e.emit_to_string(src.source)));
            assert_eq!(module.entry_points.len(), 1, "{}", src.name);
            assert_eq!(module.entry_points[0].name, "main", "{}", src.name);
        }
    }

    /// The tiled row passes fix their workgroup size in the shader: it must be the one the
    /// dispatch counts assume, and their tiles must fit wgpu's default workgroup storage.
    #[test]
    fn tiled_row_kernels_fit_their_dispatch_and_the_default_limits() {
        let limit = wgpu::Limits::default().max_compute_workgroup_storage_size;
        for src in [PDQ_LUMA_ROWS_TILED, PDQ_BOX_ROWS_TILED] {
            let module = parse(&src);
            assert_eq!(
                module.entry_points[0].workgroup_size,
                [super::super::kernels::ROW_WORKGROUP, 1, 1],
                "{}",
                src.name
            );
            let mut layouter = naga::proc::Layouter::default();
            layouter
                .update(module.to_ctx())
                .expect("layout of a parsed module");
            let shared: u32 = module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
                .map(|(_, v)| layouter[v.ty].size)
                .sum();
            assert!(
                shared > 0 && shared <= limit,
                "{}: {shared} bytes",
                src.name
            );
        }
    }

    #[test]
    fn wgsl_structs_match_rust_mirrors() {
        use super::super::layout::{ImageDescGpu, ParamsGpu, PdqResultGpu};
        let module = parse(&PDQ_DCT);
        let mut layouter = naga::proc::Layouter::default();
        layouter
            .update(module.to_ctx())
            .expect("layout of a validated module");
        let size_of = |name: &str| {
            let (handle, _) = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("struct {name} declared in pdq_common.wgsl"));
            layouter[handle].size as usize
        };
        assert_eq!(size_of("Params"), std::mem::size_of::<ParamsGpu>());
        assert_eq!(size_of("ImageDesc"), std::mem::size_of::<ImageDescGpu>());
        assert_eq!(size_of("PdqResult"), std::mem::size_of::<PdqResultGpu>());
    }

    #[test]
    fn every_kernel_file_opens_with_its_bindings() {
        let common = include_str!("../../shaders/pdq_common.wgsl");
        for src in ALL {
            let kernel = &src.source[common.len() + 1..];
            assert!(
                kernel.starts_with(&format!("// {}.wgsl", src.name)),
                "{}",
                src.name
            );
            let header: String = kernel.lines().take_while(|l| l.starts_with("//")).collect();
            assert!(header.contains("Bindings used"), "{}", src.name);
        }
    }
}
