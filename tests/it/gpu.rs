//! GPU vs CPU: the GPU path must agree with the CPU reference.
//!
//! Without an adapter every test here prints why and passes, unless `REQUIRE_GPU=1`, which
//! turns the skip into a failure (set it on GPU machines). On lavapipe (CI) the suites stay
//! small; `IMPRINT_GPU_DIFF_IMAGES` scales the random differential test (the `#[ignore]`d
//! `..._2000` variant runs 2,000 images for GPU hosts).

#![cfg(feature = "gpu")]

use imprint::gpu::{GpuHasher, GpuOptions, RowKernels, Upload};
use imprint::hash::{DihedralHashes, ImageRef, PdqHash, PdqHasher, PixelLayout};
use imprint::rng::Rng;
use std::path::{Path, PathBuf};

/// Hash bits the GPU may differ from the CPU by (coefficients tied at the median).
const GPU_TOLERANCE_BITS: u32 = 2;

fn gpu_with(options: GpuOptions) -> Option<GpuHasher> {
    match GpuHasher::new(options) {
        Ok(g) => {
            eprintln!("gpu adapter: {}", g.adapter_name());
            Some(g)
        }
        Err(e) if std::env::var("REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("REQUIRE_GPU=1 but no gpu: {e}")
        }
        Err(e) => {
            eprintln!("skipping gpu test: {e}");
            None
        }
    }
}

fn gpu() -> Option<GpuHasher> {
    gpu_with(GpuOptions::default())
}

/// An owned test image.
struct Owned {
    width: u32,
    height: u32,
    layout: PixelLayout,
    pixels: Vec<u8>,
    name: String,
}

impl Owned {
    fn as_ref(&self) -> ImageRef<'_> {
        ImageRef::new(self.width, self.height, self.layout, &self.pixels).expect("sized pixels")
    }
}

fn png_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("conformance dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            png_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "png") {
            out.push(p);
        }
    }
}

/// `tests/data/pdq`; binaries copied to another machine run from the repository root there.
fn data_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdq");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("tests/data/pdq")
    }
}

/// Every decoder-independent (PNG) conformance image, as RGB and as grey.
fn conformance_images() -> Vec<Owned> {
    let root = data_root();
    let mut files = Vec::new();
    png_files(&root, &mut files);
    assert!(files.len() >= 20, "conformance PNGs found: {}", files.len());
    let mut out = Vec::new();
    for f in files {
        let img = image::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let rgb = img.to_rgb8();
        let grey = img.to_luma8();
        out.push(Owned {
            width: rgb.width(),
            height: rgb.height(),
            layout: PixelLayout::Rgb8,
            pixels: rgb.into_raw(),
            name: format!("{name} (rgb)"),
        });
        out.push(Owned {
            width: grey.width(),
            height: grey.height(),
            layout: PixelLayout::Gray8,
            pixels: grey.into_raw(),
            name: format!("{name} (grey)"),
        });
    }
    out
}

/// Counts of an agreement check.
#[derive(Debug, Default)]
struct Agreement {
    images: usize,
    identical: usize,
    max_distance: u32,
}

fn compare(
    owned: &[Owned],
    gpu: &[PdqHash],
    gpu_dih: &[DihedralHashes],
    seed: Option<u64>,
) -> Agreement {
    use rayon::prelude::*;
    // The reference on all cores: on a GPU host the CPU side dominates the test's time.
    let cpu: Vec<(PdqHash, DihedralHashes)> = owned
        .par_iter()
        .map_init(PdqHasher::new, |h, o| {
            (h.hash(o.as_ref()), h.hash_dihedral(o.as_ref()))
        })
        .collect();
    let mut a = Agreement::default();
    for (((o, g), gd), (c, cd)) in owned.iter().zip(gpu).zip(gpu_dih).zip(cpu) {
        let ctx = format!("{} {}x{} (seed {seed:?})", o.name, o.width, o.height);
        assert_eq!(g.quality, c.quality, "quality of {ctx}");
        assert_eq!(gd.quality, cd.quality, "dihedral quality of {ctx}");
        let mut worst = g.hash.distance(&c.hash);
        for (x, y) in gd.hashes.iter().zip(&cd.hashes) {
            worst = worst.max(x.distance(y));
        }
        assert!(worst <= GPU_TOLERANCE_BITS, "{ctx}: {worst} bits differ");
        if worst > 0 {
            eprintln!("{ctx}: {worst} bits differ (tie at the median)");
        }
        a.images += 1;
        a.identical += usize::from(worst == 0);
        a.max_distance = a.max_distance.max(worst);
    }
    a
}

fn run(gpu: &mut GpuHasher, owned: &[Owned], seed: Option<u64>) -> Agreement {
    let refs: Vec<ImageRef<'_>> = owned.iter().map(Owned::as_ref).collect();
    let h = gpu.hash_batch(&refs).expect("gpu hash_batch");
    let d = gpu
        .hash_batch_dihedral(&refs)
        .expect("gpu hash_batch_dihedral");
    assert_eq!(h.len(), refs.len());
    assert_eq!(d.len(), refs.len());
    compare(owned, &h, &d, seed)
}

#[test]
fn gpu_matches_cpu_on_conformance_pngs() {
    let Some(mut gpu) = gpu() else { return };
    let owned = conformance_images();
    let a = run(&mut gpu, &owned, None);
    eprintln!("conformance: {a:?}");
    assert_eq!(a.identical, a.images, "{a:?}");
}

/// A random image: smooth gradients plus noise, so hashes are not degenerate.
fn random_image(
    rng: &mut Rng,
    width: u32,
    height: u32,
    layout: PixelLayout,
    name: String,
) -> Owned {
    let bpp = layout.bytes_per_pixel();
    let (fx, fy) = (rng.below(7) as f32 + 0.5, rng.below(7) as f32 + 0.5);
    let noise = rng.below(120) as i32 + 1;
    let mut pixels = Vec::with_capacity(width as usize * height as usize * bpp);
    for y in 0..height {
        for x in 0..width {
            let base = 127.0
                + 100.0
                    * ((x as f32 / width as f32 * fx).sin()
                        * (y as f32 / height as f32 * fy).cos());
            for _ in 0..bpp {
                let v = base as i32 + (rng.below(noise as u64) as i32 - noise / 2);
                pixels.push(v.clamp(0, 255) as u8);
            }
        }
    }
    Owned {
        width,
        height,
        layout,
        pixels,
        name,
    }
}

fn differential(num_images: usize, max_side: u64, seed: u64) {
    let Some(mut gpu) = gpu() else { return };
    let mut rng = Rng::new(seed);
    let mut owned = Vec::new();
    let mut total = Agreement::default();
    for i in 0..num_images {
        // Mostly small and odd sizes, some large ones.
        let side = |rng: &mut Rng| {
            let cap = if rng.below(10) == 0 { max_side } else { 300 };
            rng.below(cap) as u32 + 1
        };
        let (w, h) = (side(&mut rng), side(&mut rng));
        let layout = if rng.below(2) == 0 {
            PixelLayout::Gray8
        } else {
            PixelLayout::Rgb8
        };
        owned.push(random_image(&mut rng, w, h, layout, format!("random #{i}")));
        if owned.len() == 64 || i + 1 == num_images {
            let a = run(&mut gpu, &owned, Some(seed));
            total.images += a.images;
            total.identical += a.identical;
            total.max_distance = total.max_distance.max(a.max_distance);
            owned.clear();
        }
    }
    eprintln!("differential (seed {seed}): {total:?}");
    assert!(
        total.identical * 100 >= total.images * 99,
        "seed {seed}: only {} of {} identical",
        total.identical,
        total.images
    );
}

#[test]
fn gpu_matches_cpu_on_random_images() {
    let n = std::env::var("IMPRINT_GPU_DIFF_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    differential(n, 1200, 0x5eed_0001);
}

#[test]
#[ignore = "2,000 images up to 3000 px: minutes on lavapipe; run on GPU hosts"]
fn gpu_matches_cpu_on_2000_random_images() {
    differential(2000, 3000, 0x5eed_2000);
}

/// Squares and strips at the workgroup edges (64 rows or columns per workgroup), both layouts.
fn edge_images(rng: &mut Rng) -> Vec<Owned> {
    let wg = 64u32;
    let mut owned = Vec::new();
    for s in [1, 4, 5, wg - 1, wg, wg + 1, 137, 285] {
        for layout in [PixelLayout::Gray8, PixelLayout::Rgb8] {
            owned.push(random_image(rng, s, s, layout, format!("{s}x{s}")));
            owned.push(random_image(rng, s, 137, layout, format!("{s}x137")));
            owned.push(random_image(rng, 137, s, layout, format!("137x{s}")));
        }
    }
    owned
}

#[test]
fn gpu_matches_cpu_at_workgroup_edges_and_over_the_batch_maximum() {
    // Batches limited to 1 MiB so that the last image (over 1 MiB of f32 planes) goes to the
    // CPU path and the others split into several batches.
    let Some(mut gpu) = gpu_with(GpuOptions::default().max_batch_bytes(1 << 20)) else {
        return;
    };
    let mut rng = Rng::new(0x5eed_0002);
    let mut owned = edge_images(&mut rng);
    let over = 600u32; // 600 × 600 × 4 bytes = 1.4 MiB per plane
    owned.push(random_image(
        &mut rng,
        over,
        over,
        PixelLayout::Rgb8,
        "over".into(),
    ));
    let a = run(&mut gpu, &owned, None);
    eprintln!("edges: {a:?}");
    assert_eq!(a.identical, a.images, "{a:?}");
}

#[test]
fn tiled_row_kernels_match_cpu() {
    // The tiled row passes run 16 filter steps per tile: rows shorter than a tile, windows
    // wider than one (sides over 2,048 px), tails of every length, and random sizes.
    let Some(mut gpu) = gpu_with(GpuOptions::default().row_kernels(RowKernels::Tiled)) else {
        return;
    };
    let mut rng = Rng::new(0x5eed_0003);
    let mut owned = edge_images(&mut rng);
    for (w, h) in [
        (2500, 70),
        (70, 2500),
        (4100, 9),
        (15, 16),
        (16, 15),
        (17, 33),
    ] {
        for layout in [PixelLayout::Gray8, PixelLayout::Rgb8] {
            owned.push(random_image(&mut rng, w, h, layout, format!("{w}x{h}")));
        }
    }
    for i in 0..40 {
        let (w, h) = (rng.below(700) as u32 + 1, rng.below(700) as u32 + 1);
        let layout = if i % 2 == 0 {
            PixelLayout::Gray8
        } else {
            PixelLayout::Rgb8
        };
        owned.push(random_image(&mut rng, w, h, layout, format!("random #{i}")));
    }
    let a = run(&mut gpu, &owned, None);
    eprintln!("tiled row kernels: {a:?}");
    assert_eq!(a.identical, a.images, "{a:?}");
}

#[test]
fn host_memory_uploads_match_cpu() {
    // Pixels written to host memory, then copied by the device or read by the first kernel
    // in place. 1 MiB batches of growing images: many batches per call, so each slot's buffer
    // is refilled after the device has read it, and grows (and is mapped anew) mid-call.
    for upload in [Upload::HostCopy, Upload::HostDirect] {
        let options = GpuOptions::default()
            .upload(upload)
            .max_batch_bytes(1 << 20);
        let Some(mut gpu) = gpu_with(options) else {
            return;
        };
        if cfg!(target_os = "linux") {
            // Linux adapters are Vulkan ones, which all have host-memory buffers.
            assert_eq!(gpu.upload(), upload);
        }
        let mut rng = Rng::new(0x5eed_0005);
        let mut owned = edge_images(&mut rng);
        for i in 0..24u32 {
            let side = 40 + 20 * i;
            let layout = if i % 2 == 0 {
                PixelLayout::Rgb8
            } else {
                PixelLayout::Gray8
            };
            owned.push(random_image(
                &mut rng,
                side,
                side + i,
                layout,
                format!("#{i}"),
            ));
        }
        let a = run(&mut gpu, &owned, None);
        eprintln!("{upload:?}: {a:?}");
        assert_eq!(a.identical, a.images, "{upload:?}: {a:?}");
        assert!(gpu.profile().batches >= 8, "{:?}", gpu.profile());
    }
}

/// Streamed calls return while their last batch is still on the device; every image's result
/// comes back exactly once under its ticket, equal to the CPU's, also when a `hash_batch` call
/// comes between two streamed calls (the stream's results wait for the next one).
#[test]
fn streamed_calls_return_every_result_once_by_ticket() {
    // 1 MiB batches: several per call; degenerate, strip, and over-the-maximum images too.
    let Some(mut gpu) = gpu_with(GpuOptions::default().max_batch_bytes(1 << 20)) else {
        return;
    };
    let mut rng = Rng::new(0x5eed_0006);
    let mut owned: Vec<Owned> = (0..12u32)
        .map(|i| {
            let name = format!("#{i}");
            random_image(&mut rng, 300 + 7 * i, 200, PixelLayout::Rgb8, name)
        })
        .collect();
    owned.extend(edge_images(&mut rng));
    owned.push(random_image(
        &mut rng,
        600,
        600,
        PixelLayout::Rgb8,
        "over".into(),
    ));
    let refs: Vec<ImageRef<'_>> = owned.iter().map(Owned::as_ref).collect();
    let first_ticket = 1_000;
    let mut streamed: Vec<Vec<Option<DihedralHashes>>> = vec![vec![None; refs.len()]; 2];
    for (pass, dihedral) in [false, true].into_iter().enumerate() {
        let mut ready = Vec::new();
        let mut store = |ready: &mut Vec<(u64, DihedralHashes)>| {
            for (ticket, hashes) in ready.drain(..) {
                let slot = &mut streamed[pass][(ticket - first_ticket) as usize];
                assert!(slot.is_none(), "ticket {ticket} returned twice");
                *slot = Some(hashes);
            }
        };
        let mut start = 0;
        for (call, len) in [7usize, 1, 13, 20, 5, 40].into_iter().enumerate() {
            let end = (start + len).min(refs.len());
            let ticket = first_ticket + start as u64;
            gpu.submit(ticket, &refs[start..end], dihedral, &mut ready)
                .expect("streamed call");
            if call == 0 {
                // Seven images of 180 KiB: two batches, the second still on the device.
                assert!(ready.len() < end, "call 0 waited for all its batches");
            }
            store(&mut ready);
            if call == 2 {
                let between = gpu.hash_batch(&refs[..3]).expect("hash_batch mid-stream");
                assert_eq!(between.len(), 3);
            }
            start = end;
        }
        assert_eq!(start, refs.len(), "the calls cover every image");
        gpu.flush(&mut ready).expect("flush");
        store(&mut ready);
    }
    let [plain, dihedral] = [0, 1].map(|pass| {
        streamed[pass]
            .iter()
            .enumerate()
            .map(|(i, h)| h.unwrap_or_else(|| panic!("no result for image {i}")))
            .collect::<Vec<_>>()
    });
    let plain: Vec<PdqHash> = plain.iter().map(DihedralHashes::primary).collect();
    let a = compare(&owned, &plain, &dihedral, None);
    assert_eq!(a.identical, a.images, "{a:?}");
}

/// With kernel profiling on, each kernel runs in its own timed compute pass: the hashes stay
/// identical to the CPU's, the counts are exact, and where the adapter has timestamp queries
/// every kernel gets a time.
#[test]
fn profiled_batches_agree_and_count_their_work() {
    let options = GpuOptions::default()
        .profile_kernels(true)
        .max_batch_bytes(1 << 20);
    let Some(mut gpu) = gpu_with(options) else {
        return;
    };
    let mut rng = Rng::new(0x5eed_0004);
    let mut owned = Vec::new();
    for (i, (w, h)) in [(300u32, 200u32), (64, 64), (3, 90), (129, 257), (400, 500)]
        .into_iter()
        .enumerate()
    {
        let layout = if i % 2 == 0 {
            PixelLayout::Rgb8
        } else {
            PixelLayout::Gray8
        };
        owned.push(random_image(&mut rng, w, h, layout, format!("{w}x{h}")));
    }
    let a = run(&mut gpu, &owned, None);
    assert_eq!(a.identical, a.images, "{a:?}");
    let p = gpu.profile().clone();
    // `run` hashes the set twice (hashes, then dihedral); the 3-pixel-wide image gets the zero
    // hash without a dispatch. 400 × 500 needs 800 kB per plane, so 1 MiB batches split them.
    let on_device = 4;
    assert_eq!(p.images, 2 * on_device, "{p:?}");
    assert!(p.batches >= 4 && p.batches <= p.images, "{p:?}");
    let pixel_bytes: u64 = owned
        .iter()
        .filter(|o| o.width >= 5 && o.height >= 5)
        .map(|o| (o.pixels.len() as u64).next_multiple_of(8))
        .sum();
    assert_eq!(p.pixel_bytes, 2 * pixel_bytes);
    if p.kernels.is_empty() {
        eprintln!("{}: no timestamp queries", gpu.adapter_name());
    } else {
        let names: Vec<&str> = p.kernels.iter().map(|k| k.0).collect();
        assert_eq!(
            names,
            [
                "luma_rows",
                "box_cols",
                "box_rows",
                "decimate_cols",
                "quality",
                "dct",
                "threshold"
            ]
        );
        assert!(p.kernel_total_s() > 0.0, "{p:?}");
    }
    gpu.reset_profile();
    assert_eq!(gpu.profile(), &imprint::gpu::GpuProfile::default());
}

mod backend {
    use super::*;
    use imprint::{Backend, BackendError, BackendHasher};

    fn sample() -> Vec<Owned> {
        let mut rng = Rng::new(0x5eed_0003);
        (0..6)
            .map(|i| {
                let layout = if i % 2 == 0 {
                    PixelLayout::Rgb8
                } else {
                    PixelLayout::Gray8
                };
                random_image(&mut rng, 40 + i * 17, 90 - i * 9, layout, format!("#{i}"))
            })
            .collect()
    }

    /// `Backend::Gpu` on any adapter; `None` (with the reason printed) without one, unless
    /// `REQUIRE_GPU=1`.
    fn gpu_backend() -> Option<BackendHasher> {
        match BackendHasher::new(Backend::Gpu) {
            Ok(h) => Some(h),
            Err(e) if std::env::var("REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
            Err(e) => {
                eprintln!("skipping gpu test: {e}");
                None
            }
        }
    }

    fn cpu_hashes(owned: &[Owned]) -> Vec<PdqHash> {
        let mut cpu = PdqHasher::new();
        owned.iter().map(|o| cpu.hash(o.as_ref())).collect()
    }

    #[test]
    fn auto_never_picks_a_software_adapter() {
        let hasher = BackendHasher::new(Backend::Auto).expect("auto does not fail");
        if let Some(g) = hasher.gpu() {
            assert!(!g.is_software(), "auto picked {}", g.adapter_name());
        }
        eprintln!("auto chose {:?}", hasher.device_name());
    }

    #[test]
    fn cpu_backend_equals_reference() {
        let owned = sample();
        let refs: Vec<_> = owned.iter().map(Owned::as_ref).collect();
        let mut hasher = BackendHasher::new(Backend::Cpu).expect("cpu does not fail");
        assert!(!hasher.is_gpu());
        assert_eq!(hasher.hash_batch(&refs).expect("cpu"), cpu_hashes(&owned));
    }

    #[test]
    fn lost_device_is_an_error_under_gpu() {
        let Some(mut hasher) = gpu_backend() else {
            return;
        };
        let owned = sample();
        let refs: Vec<_> = owned.iter().map(Owned::as_ref).collect();
        assert_eq!(hasher.hash_batch(&refs).expect("gpu"), cpu_hashes(&owned));
        hasher.simulate_device_loss();
        match hasher.hash_batch(&refs) {
            Err(BackendError::Gpu(imprint::gpu::GpuError::DeviceLost { reason })) => {
                eprintln!("lost: {reason}")
            }
            other => panic!("expected DeviceLost, got {other:?}"),
        }
    }

    /// Streamed calls on the CPU backend: every result ready at once, under its ticket.
    #[test]
    fn cpu_backend_streams_every_result_at_once() {
        let owned = sample();
        let refs: Vec<_> = owned.iter().map(Owned::as_ref).collect();
        let mut hasher = BackendHasher::new(Backend::Cpu).expect("cpu does not fail");
        let mut ready = Vec::new();
        hasher.submit(7, &refs, false, &mut ready).expect("cpu");
        let tickets: Vec<u64> = ready.iter().map(|(t, _)| *t).collect();
        assert_eq!(tickets, (7..7 + refs.len() as u64).collect::<Vec<_>>());
        let plain: Vec<PdqHash> = ready.iter().map(|(_, d)| d.primary()).collect();
        assert_eq!(plain, cpu_hashes(&owned));
    }

    /// A device lost between streamed calls: the next call fails, and every result handed out,
    /// by either call, is the right one for its ticket.
    #[test]
    fn lost_device_mid_stream_hands_out_only_right_results() {
        let Some(mut hasher) = gpu_backend() else {
            return;
        };
        let owned = sample();
        let refs: Vec<_> = owned.iter().map(Owned::as_ref).collect();
        let n = refs.len() as u64;
        let mut ready = Vec::new();
        // Three calls of one batch each, two slots: the third returns the first's results.
        for call in 0..3 {
            hasher
                .submit(call * n, &refs, false, &mut ready)
                .expect("gpu");
        }
        assert!(
            ready.len() as u64 >= n,
            "{} results after three calls",
            ready.len()
        );
        hasher.simulate_device_loss();
        // The loss shows in a later call or in the flush (a batch already on the device can
        // still finish), and not always as `DeviceLost`: wgpu reports a destroyed device as
        // lost only once its queue is empty.
        let mut failed = None;
        for call in 3..6 {
            let done = if call < 5 {
                hasher.submit(call * n, &refs, false, &mut ready)
            } else {
                hasher.flush(&mut ready)
            };
            if let Err(e) = done {
                failed = Some(e);
                break;
            }
        }
        match failed {
            Some(BackendError::Gpu(e)) => eprintln!("failed: {e}"),
            other => panic!("expected a gpu error, got {other:?}"),
        }
        let cpu = cpu_hashes(&owned);
        let mut seen = std::collections::HashSet::new();
        for (ticket, d) in &ready {
            assert!(*ticket < 4 * n && seen.insert(*ticket), "ticket {ticket}");
            let want = cpu[(*ticket % n) as usize];
            assert_eq!(
                (d.hashes[0], d.quality),
                (want.hash, want.quality),
                "ticket {ticket}"
            );
        }
        eprintln!("{} of {} results handed out", ready.len(), 5 * n);
    }

    #[test]
    fn lost_device_finishes_on_the_cpu_under_auto() {
        let mut hasher = BackendHasher::new(Backend::Auto).expect("auto does not fail");
        if !hasher.is_gpu() {
            return eprintln!("skipping: auto found no hardware gpu");
        }
        let owned = sample();
        let refs: Vec<_> = owned.iter().map(Owned::as_ref).collect();
        hasher.simulate_device_loss();
        assert_eq!(
            hasher.hash_batch(&refs).expect("auto falls back"),
            cpu_hashes(&owned)
        );
        assert!(!hasher.is_gpu());
    }

    /// A bulk run under `Backend::Gpu` whose device is lost stops with the GPU's error (the
    /// sink finished), rather than finishing on the CPU as `Auto` does.
    #[test]
    fn lost_device_stops_a_pipeline_under_gpu() {
        use imprint::pipeline::{Pipeline, Source, StandardDecoder, VecSink};
        let Some(mut hasher) = gpu_backend() else {
            return;
        };
        hasher.simulate_device_loss();
        let mut sink = VecSink::default();
        let r = Pipeline::new().threads(2).hasher(hasher).run(
            &[Source::Dir(data_root().join("synthetic"))],
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        );
        match r {
            Err(imprint::Error::Backend(BackendError::Gpu(e))) => eprintln!("stopped: {e}"),
            other => panic!("expected a gpu error, got {other:?}"),
        }
        assert!(sink.items.iter().all(|(_, o)| o.is_err()), "no item hashed");
    }
}

mod cli {
    use super::*;
    use std::process::Command;

    /// The CLI: where cargo built it, or `.dev/imprint` when the tests run on another machine.
    fn bin() -> Option<PathBuf> {
        let built = option_env!("CARGO_BIN_EXE_imprint").map(PathBuf::from);
        let found = built
            .filter(|p| p.is_file())
            .or_else(|| Some(PathBuf::from(".dev/imprint")).filter(|p| p.is_file()));
        if found.is_none() {
            eprintln!("skipping: no imprint binary (feature cli, or .dev/imprint)");
        }
        found
    }

    #[test]
    fn hash_backend_gpu_prints_what_cpu_prints() {
        let Some(bin) = bin() else { return };
        if gpu().is_none() {
            return;
        }
        let dirs = [data_root().join("synthetic"), data_root().join("lossless")];
        let run = |backend: &str| {
            let out = Command::new(&bin)
                .args(["hash", "--dihedral", "--backend", backend])
                .args(&dirs)
                .output()
                .expect("run imprint");
            assert!(
                out.status.success(),
                "--backend {backend}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let cpu = run("cpu");
        assert!(cpu.len() > 1000);
        assert_eq!(
            String::from_utf8_lossy(&run("gpu")),
            String::from_utf8_lossy(&cpu)
        );
    }

    #[test]
    fn hash_rejects_an_unknown_backend() {
        let Some(bin) = bin() else { return };
        let out = Command::new(bin)
            .args(["hash", "--backend", "tpu", "x.png"])
            .output()
            .expect("run imprint");
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("expected auto, cpu or gpu"));
    }
}
