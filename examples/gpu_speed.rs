//! Times the hash stage (decoded pixels in, hashes out) on the GPU and on all CPU cores in the
//! same run, plus host→device copy bandwidth, and prints a table with the ratios.
//!
//! ```text
//! gpu_speed [--size WxH:COUNT]... [--reps N] [--bandwidth-mib N] [--no-cpu]
//!           [--batch-mib N] [--profile] [--row-kernels per-row|tiled]
//!           [--upload mapped|host-copy|host-direct[,...]] [--batches-per-call N]
//!           [--calls N | --stream N]
//! ```
//!
//! Defaults: `--size 1000x1000:64 --size 4000x3000:16 --reps 3 --bandwidth-mib 256`. The GPU
//! time includes packing, upload, all kernels and readback (`GpuHasher::hash_batch` on the
//! whole set, after one warm-up call); the CPU time is `BackendHasher` with `Backend::Cpu`
//! (rayon over all cores). Images are seeded RGB gradients with noise. `RUST_LOG` is not read:
//! the tool prints only its own lines. `--batch-mib` caps the bytes of one batch buffer
//! (`GpuOptions::max_batch_bytes`; smaller batches overlap upload and compute more, larger ones
//! fill the device more). `--profile` times each kernel on the device with timestamp queries
//! (one compute pass per kernel) and prints, per size, where the time of one call went.
//! `--row-kernels` picks the implementation of the two row passes (`GpuOptions::row_kernels`).
//! `--batches-per-call` is `GpuOptions::batches_per_call` (1: each call in as few batches as
//! the limits allow, so the host's fill and the device's work do not overlap within a call).
//! `--upload` lists the upload paths to time (`GpuOptions::upload`), each with its own device,
//! bandwidth probe and table rows, against the same CPU timing. `--calls N` hands the GPU the
//! set as `hash_batch` calls of N images, each waited for, instead of one call; `--stream N`
//! as calls of N images through `GpuHasher::submit` and one `flush`, as the bulk pipeline does
//! (64 images a call).
//!
//! The last column compares the GPU's input rate with the host→device link: the device's own
//! copy out of a host-memory staging buffer ("copy only" of the `host-copy` probe) when a
//! `host-copy` path was timed, otherwise each path's staged probe.

use imprint::gpu::{
    GpuError, GpuHasher, GpuOptions, GpuProfile, RowKernels, Upload, UploadBandwidth,
};
use imprint::hash::{DihedralHashes, ImageRef, PdqHash, PixelLayout};
use imprint::rng::Rng;
use imprint::{Backend, BackendHasher};
use rayon::prelude::*;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    sizes: Vec<(u32, u32, usize)>,
    reps: u32,
    bandwidth_mib: u64,
    cpu: bool,
    batch_mib: Option<u64>,
    batches_per_call: Option<u32>,
    profile: bool,
    row_kernels: RowKernels,
    uploads: Vec<Upload>,
    /// Images per call, and whether calls are streamed.
    calls: Option<(usize, bool)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: Vec::new(),
        reps: 3,
        bandwidth_mib: 256,
        cpu: true,
        batch_mib: None,
        batches_per_call: None,
        profile: false,
        row_kernels: RowKernels::default(),
        uploads: Vec::new(),
        calls: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => {
                let v = value()?;
                let (dims, count) = v.split_once(':').ok_or("--size WxH:COUNT")?;
                let (w, h) = dims.split_once('x').ok_or("--size WxH:COUNT")?;
                let parse = |s: &str| s.parse::<u64>().map_err(|e| format!("{v}: {e}"));
                args.sizes
                    .push((parse(w)? as u32, parse(h)? as u32, parse(count)? as usize));
            }
            "--reps" => args.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--bandwidth-mib" => {
                args.bandwidth_mib = value()?
                    .parse()
                    .map_err(|e| format!("--bandwidth-mib: {e}"))?
            }
            "--no-cpu" => args.cpu = false,
            "--batch-mib" => {
                args.batch_mib = Some(value()?.parse().map_err(|e| format!("--batch-mib: {e}"))?)
            }
            "--batches-per-call" => {
                args.batches_per_call = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--batches-per-call: {e}"))?,
                )
            }
            "--profile" => args.profile = true,
            "--calls" | "--stream" => {
                let n: usize = value()?.parse().map_err(|e| format!("{a}: {e}"))?;
                args.calls = Some((n.max(1), a == "--stream"));
            }
            "--row-kernels" => args.row_kernels = value()?.parse()?,
            "--upload" => {
                for u in value()?.split(',') {
                    args.uploads.push(u.parse()?);
                }
            }
            "-h" | "--help" => {
                return Err(
                    "gpu_speed [--size WxH:COUNT]... [--reps N] [--bandwidth-mib N] \
                     [--no-cpu] [--batch-mib N] [--profile] [--row-kernels per-row|tiled] \
                     [--upload mapped|host-copy|host-direct[,...]] [--batches-per-call N] \
                     [--calls N | --stream N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.sizes.is_empty() {
        args.sizes = vec![(1000, 1000, 64), (4000, 3000, 16)];
    }
    if args.uploads.is_empty() {
        args.uploads.push(Upload::default());
    }
    args.reps = args.reps.max(1);
    Ok(args)
}

fn image(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let state = rng.next_u64();
            let base = ((x * 255 / w.max(1)) as i32 + (y * 255 / h.max(1)) as i32) / 2;
            for c in 0..3 {
                let noise = ((state >> (c * 8)) & 31) as i32 - 16;
                out.push((base + noise).clamp(0, 255) as u8);
            }
        }
    }
    out
}

/// Best of `reps` timings of `f`, in seconds.
fn best_of(reps: u32, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut options = GpuOptions::default()
        .profile_kernels(args.profile)
        .row_kernels(args.row_kernels);
    if let Some(mib) = args.batch_mib {
        options = options.max_batch_bytes(mib << 20);
    }
    if let Some(n) = args.batches_per_call {
        options = options.batches_per_call(n);
    }
    let threads = rayon::current_num_threads();
    // A path that fails is reported and left out; the others are still timed.
    let mut failed = false;
    let mut gpus: Vec<(GpuHasher, UploadBandwidth)> = Vec::new();
    for &upload in &args.uploads {
        let mut gpu = match GpuHasher::new(options.clone().upload(upload)) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("no gpu for {upload:?}: {e}");
                failed = true;
                continue;
            }
        };
        println!(
            "adapter: {} (software: {}); cpu threads: {threads}; max batch {} MiB / {} images; \
             row kernels {:?}; upload {:?}",
            gpu.adapter_name(),
            gpu.is_software(),
            gpu.max_batch_bytes() >> 20,
            gpu.max_images_per_batch(),
            args.row_kernels,
            gpu.upload()
        );
        let bandwidth = match gpu.measure_upload_bandwidth(args.bandwidth_mib << 20, args.reps + 2)
        {
            Ok(b) => b,
            Err(e) => {
                eprintln!("bandwidth probe failed for {upload:?}: {e}");
                failed = true;
                continue;
            }
        };
        println!(
            "host->device ({:?} staging): {:.2} GB/s staged (map + memcpy on all cores + copy), \
             {:.2} GB/s copy only; fill of the mapped staging buffer {:.2} GB/s against {:.2} GB/s \
             host to host",
            gpu.upload(),
            bandwidth.staged / 1e9,
            bandwidth.copy_only / 1e9,
            bandwidth.fill / 1e9,
            bandwidth.host_memcpy / 1e9
        );
        gpus.push((gpu, bandwidth));
    }
    if gpus.is_empty() {
        return ExitCode::from(2);
    }
    // The link: the device pulling from host memory, where that was measured.
    let link = gpus
        .iter()
        .find(|(g, _)| g.upload() == Upload::HostCopy)
        .map(|(_, b)| b.copy_only);
    let mut cpu = BackendHasher::new(Backend::Cpu).expect("the cpu backend does not fail");
    let mut rows = Vec::new();
    let mut profiles = Vec::new();
    let mut working = vec![true; gpus.len()];
    for &(w, h, count) in &args.sizes {
        let pixels: Vec<Vec<u8>> = (0..count)
            .into_par_iter()
            .map(|i| image(w, h, i as u64 + 1))
            .collect();
        let refs: Vec<ImageRef<'_>> = pixels
            .iter()
            .map(|p| ImageRef::new(w, h, PixelLayout::Rgb8, p).expect("sized pixels"))
            .collect();
        let bytes = (w as f64) * (h as f64) * 3.0 * count as f64;
        let reference = cpu.hash_batch(&refs).expect("cpu");
        let t_cpu = if args.cpu {
            best_of(args.reps, || {
                std::hint::black_box(cpu.hash_batch(std::hint::black_box(&refs)).expect("cpu"));
            })
        } else {
            f64::NAN
        };
        for ((gpu, bandwidth), working) in gpus.iter_mut().zip(&mut working) {
            if !*working {
                continue;
            }
            // Warm-up: pipelines, buffer size classes, and the agreement check.
            let gpu_out = match hash_set(gpu, &refs, args.calls) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("gpu failed with {:?} uploads: {e}", gpu.upload());
                    failed = true;
                    *working = false;
                    continue;
                }
            };
            let identical = gpu_out
                .iter()
                .zip(&reference)
                .filter(|(a, b)| a == b)
                .count();
            if identical != count {
                failed = true;
            }
            gpu.reset_profile();
            let t_gpu = best_of(args.reps, || {
                let out = hash_set(gpu, std::hint::black_box(&refs), args.calls);
                std::hint::black_box(out.expect("gpu"));
            });
            let upload = gpu.upload();
            profiles.push((w, h, upload, gpu.profile().clone()));
            let base = link.unwrap_or(bandwidth.staged);
            rows.push((w, h, upload, count, identical, t_gpu, t_cpu, bytes, base));
        }
    }
    println!();
    println!(
        "| size | upload | images | identical | GPU img/s | GPU GB/s in | CPU ({threads} thr) img/s | GPU/CPU | GPU in / H2D |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (w, h, upload, count, identical, t_gpu, t_cpu, bytes, base) in rows {
        let gpu_rate = count as f64 / t_gpu;
        let cpu_rate = count as f64 / t_cpu;
        let (cpu_col, ratio_col) = if args.cpu {
            (
                format!("{cpu_rate:.1}"),
                format!("{:.2}x", gpu_rate / cpu_rate),
            )
        } else {
            ("-".to_owned(), "-".to_owned())
        };
        println!(
            "| {w}x{h} ({:.1} MP) | {upload:?} | {count} | {identical} | {gpu_rate:.1} | {:.2} | {cpu_col} | {ratio_col} | {:.0}% |",
            f64::from(w) * f64::from(h) / 1e6,
            bytes / t_gpu / 1e9,
            100.0 * (bytes / t_gpu) / base
        );
    }
    match link {
        Some(l) => println!(
            "H2D bandwidth (the last column's base): {:.2} GB/s, the device copying out of host memory",
            l / 1e9
        ),
        None => println!(
            "H2D bandwidth (the last column's base): each upload's staged probe above; \
             time --upload host-copy as well for the link's own figure"
        ),
    }
    if args.profile {
        print_profiles(&profiles, args.reps);
    }
    if failed {
        eprintln!("gpu and cpu hashes differ (see the identical column)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The hashes of `refs`: one `hash_batch` call, or calls of `n` images, each a `hash_batch`
/// call or, streamed, through `submit` and one `flush`.
fn hash_set(
    gpu: &mut GpuHasher,
    refs: &[ImageRef<'_>],
    calls: Option<(usize, bool)>,
) -> Result<Vec<PdqHash>, GpuError> {
    let n = match calls {
        None => return gpu.hash_batch(refs),
        Some((n, false)) => {
            let mut out = Vec::with_capacity(refs.len());
            for call in refs.chunks(n) {
                out.extend(gpu.hash_batch(call)?);
            }
            return Ok(out);
        }
        Some((n, _)) => n,
    };
    let mut ready = Vec::with_capacity(refs.len());
    for (k, call) in refs.chunks(n).enumerate() {
        gpu.submit((k * n) as u64, call, false, &mut ready)?;
    }
    gpu.flush(&mut ready)?;
    let mut out = vec![DihedralHashes::ZERO.primary(); refs.len()];
    for (ticket, d) in ready {
        out[ticket as usize] = d.primary();
    }
    Ok(out)
}

/// Per size, where one call's time went (averaged over the timed repetitions).
fn print_profiles(profiles: &[(u32, u32, Upload, GpuProfile)], reps: u32) {
    let r = f64::from(reps);
    for (w, h, upload, p) in profiles {
        println!();
        println!(
            "profile {w}x{h} {upload:?}: {:.1} batches/call, {:.1} images/batch; per call: fill {:.2} ms \
             ({:.2} GB/s), upload wait {:.2} ms, readback wait {:.2} ms, kernels {:.2} ms",
            p.batches as f64 / r,
            p.images as f64 / p.batches.max(1) as f64,
            p.fill_s * 1e3 / r,
            p.pixel_bytes as f64 / p.fill_s.max(f64::MIN_POSITIVE) / 1e9,
            p.upload_wait_s * 1e3 / r,
            p.readback_wait_s * 1e3 / r,
            p.kernel_total_s() * 1e3 / r
        );
        if p.kernels.is_empty() {
            println!("  (the adapter has no timestamp queries: no kernel times)");
        }
        let total = p.kernel_total_s().max(f64::MIN_POSITIVE);
        for (name, s) in &p.kernels {
            println!(
                "  {name:<14} {:>9.3} ms/call  {:>5.1}%",
                s * 1e3 / r,
                100.0 * s / total
            );
        }
    }
}
