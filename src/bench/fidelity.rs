//! `--fast` fidelity: how far the hash of a JPEG decoded at a reduced DCT scale lies from the
//! exact hash, over a varied seeded corpus plus given JPEG files.
//!
//! Each item is decoded once at full size and once at every libjpeg scale `n/8` (n = 1…7),
//! and the Hamming distance of each scaled hash to the exact one is kept, so any scale rule
//! can be evaluated from one run ([`FidelityReport::distance`]). Generated items vary in size
//! (0.05–50 MP, few large ones), aspect ratio, content (scenes from [`scene`], with grain),
//! JPEG quality (50–98), chroma subsampling (4:4:4, 4:2:2, 4:2:0) and progressive coding.
//!
//! Items are split into a tune part and a held-out part by a hash of their id
//! ([`is_held_out`]), which depends on nothing else, so the split never moves when the corpus
//! grows or the rule changes.

use super::error::{io_err, BenchError, Result};
use super::scene::scene;
use super::sha256::sha256_hex;
use crate::decode::{
    decode_jpeg_at_scale, fast_jpeg_numerator, jpeg_scale_numerator, FAST_JPEG_MIN_PIXELS,
    FAST_JPEG_MIN_SIDE,
};
use crate::hash::{PdqHash, PdqHasher};
use crate::rng::Rng;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Generated images of a default run: a few minutes on two cores.
pub const DEFAULT_FIDELITY_IMAGES: u32 = 300;
/// Generated images of the full run (`--full`), as the issue asks (≥ 2,000).
pub const FULL_FIDELITY_IMAGES: u32 = 2000;
/// Lower bounds of the size bands, in megapixels; the last band is open.
pub const SIZE_BANDS_MP: [f64; 5] = [0.0, 0.25, 1.0, 4.0, 16.0];
/// Promised bound: hashes this close to exact mode count as faithful.
pub const PROMISED_BITS: u32 = 10;
/// No hash may be farther than this from exact mode.
pub const HARD_LIMIT_BITS: u32 = 16;

/// (lower MP, upper MP, share of the generated images) of each generation band: large images
/// are few, as the machine that runs this is small.
const GEN_BANDS: [(f64, f64, f64); 5] = [
    (0.05, 0.25, 0.30),
    (0.25, 1.0, 0.30),
    (1.0, 4.0, 0.22),
    (4.0, 16.0, 0.12),
    (16.0, 50.0, 0.06),
];
/// Width : height ratios drawn (portrait ones by swapping).
const ASPECTS: [(u32, u32); 6] = [(1, 1), (4, 3), (3, 2), (16, 9), (2, 1), (3, 1)];

/// Chroma subsampling of a generated JPEG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subsampling {
    /// No subsampling.
    S444,
    /// Chroma halved horizontally.
    S422,
    /// Chroma halved both ways.
    S420,
}

impl Subsampling {
    /// `4:4:4`, `4:2:2` or `4:2:0`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Subsampling::S444 => "4:4:4",
            Subsampling::S422 => "4:2:2",
            Subsampling::S420 => "4:2:0",
        }
    }

    fn pixel_sizes(self) -> (u8, u8) {
        match self {
            Subsampling::S444 => (1, 1),
            Subsampling::S422 => (2, 1),
            Subsampling::S420 => (2, 2),
        }
    }
}

/// How `--fast` picks a JPEG's decode scale, as the report scores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleRule {
    /// The current rule: [`fast_jpeg_numerator`] with [`FAST_JPEG_MIN_SIDE`].
    Current,
    /// The earlier rule: every scale n/8, the smallest keeping both sides at least
    /// `min_side` pixels ([`jpeg_scale_numerator`]).
    EveryEighth {
        /// The minimum side in pixels.
        min_side: u32,
    },
}

impl ScaleRule {
    /// The rule in words, as the report names it.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            ScaleRule::Current => format!(
                "current rule, n/8 of 1/8, 1/4 or 1/2 from {FAST_JPEG_MIN_PIXELS} pixels, \
                 minimum side {FAST_JPEG_MIN_SIDE} px"
            ),
            ScaleRule::EveryEighth { min_side } => {
                format!("earlier rule, every n/8, minimum side {min_side} px")
            }
        }
    }

    /// The scale numerator (of 8) the rule decodes a `width × height` JPEG at.
    #[must_use]
    pub fn numerator(self, width: u32, height: u32) -> u8 {
        match self {
            ScaleRule::Current => fast_jpeg_numerator(width, height, FAST_JPEG_MIN_SIDE),
            ScaleRule::EveryEighth { min_side } => jpeg_scale_numerator(width, height, min_side),
        }
    }
}

/// Every `.jpg`/`.jpeg` file under `dir` (recursively), in path order: the given JPEGs of a
/// fidelity run.
///
/// # Errors
/// [`BenchError::Io`] naming a directory that cannot be listed.
pub fn jpeg_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let p = e.map_err(io_err(&d))?.path();
            if p.is_dir() {
                todo.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a fidelity run measures.
#[derive(Clone, Debug)]
pub struct FidelitySettings {
    /// Seed of the generated corpus.
    pub seed: u64,
    /// Generated JPEGs.
    pub num_generated: u32,
    /// Largest generated size in megapixels: larger draws are shrunk to it (50 covers every
    /// band; tests use less).
    pub max_megapixels: f64,
    /// Given JPEG files, measured as they are (ids are their paths).
    pub files: Vec<PathBuf>,
}

/// The measurements of one JPEG.
#[derive(Clone, Debug, PartialEq)]
pub struct FidelityItem {
    /// `G000123` for generated images, the path for given files.
    pub id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Encoder quality of a generated image (`None` for given files).
    pub quality: Option<u8>,
    /// Subsampling of a generated image (`None` for given files).
    pub subsampling: Option<Subsampling>,
    /// Whether a generated image is progressive.
    pub progressive: bool,
    /// Whether the item belongs to the held-out part.
    pub held_out: bool,
    /// Distance of the hash at scale `n/8` to the exact hash, at index `n - 1` (n = 1…7).
    pub distances: [u32; 7],
    /// Decode time in seconds at scale `n/8`, at index `n - 1` (n = 1…8; 8 is exact).
    pub decode_seconds: [f64; 8],
}

impl FidelityItem {
    /// Megapixels (10⁶ pixels).
    #[must_use]
    pub fn megapixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) / 1e6
    }

    /// The size band ([`SIZE_BANDS_MP`] index).
    #[must_use]
    pub fn band(&self) -> usize {
        let mp = self.megapixels();
        SIZE_BANDS_MP.iter().rposition(|&lo| mp >= lo).unwrap_or(0)
    }
}

/// Whether the item `id` is in the held-out part: the low bit of the first byte of its
/// SHA-256, so about half the items, fixed by the id alone.
#[must_use]
pub fn is_held_out(id: &str) -> bool {
    let hex = sha256_hex(id.as_bytes());
    u8::from_str_radix(&hex[..2], 16).is_ok_and(|b| b & 1 == 1)
}

/// All items of a run, generated first, then the files in the given order.
#[derive(Clone, Debug)]
pub struct FidelityReport {
    /// The settings of the run.
    pub seed: u64,
    /// One line per JPEG.
    pub items: Vec<FidelityItem>,
}

/// Generates the corpus and measures every item, in parallel; results in item order.
///
/// # Errors
/// [`BenchError::Decode`] or [`BenchError::Io`] naming a given file that cannot be read or
/// decoded; [`BenchError::Encode`] when the encoder refuses a generated image;
/// [`BenchError::InvalidSettings`] when `max_megapixels` is under 0.001 (or NaN).
pub fn measure_fidelity(settings: &FidelitySettings) -> Result<FidelityReport> {
    if settings.max_megapixels.is_nan() || settings.max_megapixels < 0.001 {
        return Err(BenchError::InvalidSettings {
            problem: "the largest size must be at least 0.001 megapixels",
        });
    }
    let generated = (0..settings.num_generated)
        .into_par_iter()
        .map_init(PdqHasher::new, |hasher, i| {
            let id = format!("G{i:06}");
            let (bytes, quality, sub, progressive) =
                generate(settings.seed, i, &id, settings.max_megapixels)?;
            let mut item = measure(hasher, &id, &bytes).map_err(|source| BenchError::Decode {
                path: id.clone().into(),
                source,
            })?;
            item.quality = Some(quality);
            item.subsampling = Some(sub);
            item.progressive = progressive;
            Ok(item)
        })
        .collect::<Result<Vec<_>>>()?;
    let files = settings
        .files
        .par_iter()
        .map_init(PdqHasher::new, |hasher, path| {
            let bytes = std::fs::read(path).map_err(io_err(path))?;
            let id = path.to_string_lossy().replace('\\', "/");
            measure(hasher, &id, &bytes).map_err(|source| BenchError::Decode {
                path: path.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut items = generated;
    items.extend(files);
    Ok(FidelityReport {
        seed: settings.seed,
        items,
    })
}

/// The JPEG bytes of generated item `i`, with its quality, subsampling and coding.
fn generate(
    seed: u64,
    i: u32,
    id: &str,
    max_megapixels: f64,
) -> Result<(Vec<u8>, u8, Subsampling, bool)> {
    let mut rng = Rng::stream(seed, u64::from(i));
    let r = rng.unit();
    let mut acc = 0.0;
    let band = GEN_BANDS
        .iter()
        .find(|b| {
            acc += b.2;
            r < acc
        })
        .unwrap_or(&GEN_BANDS[GEN_BANDS.len() - 1]);
    let mp = (band.0.ln() + rng.unit() * (band.1.ln() - band.0.ln()))
        .exp()
        .min(max_megapixels);
    let (aw, ah) = *rng.pick(&ASPECTS);
    let (aw, ah) = if rng.below(2) == 0 {
        (aw, ah)
    } else {
        (ah, aw)
    };
    // width × height = mp·10⁶ with width / height = aw / ah.
    let height = (mp * 1e6 * f64::from(ah) / f64::from(aw)).sqrt();
    let width = (height * f64::from(aw) / f64::from(ah)).round().max(16.0) as u32;
    let height = height.round().max(16.0) as u32;
    let quality = rng.between(50, 98) as u8;
    let sub = *rng.pick(&[Subsampling::S444, Subsampling::S422, Subsampling::S420]);
    let progressive = rng.below(4) == 0;
    let grain = rng.range(0.0, 12.0) as f32;
    let mut img = scene(rng.next_u64(), width, height);
    if grain > 0.5 {
        for p in img.pixels_mut() {
            let n = (rng.unit() as f32 - 0.5) * 2.0 * grain;
            p.0 =
                p.0.map(|v| (f32::from(v) + n).round().clamp(0.0, 255.0) as u8);
        }
    }
    let bytes =
        encode_jpeg(img.as_raw(), width, height, quality, sub, progressive).ok_or_else(|| {
            BenchError::Encode {
                path: id.into(),
                source: image::ImageError::Encoding(image::error::EncodingError::new(
                    image::ImageFormat::Jpeg.into(),
                    "libjpeg refused the image",
                )),
            }
        })?;
    Ok((bytes, quality, sub, progressive))
}

/// RGB pixels as a JPEG through libjpeg (libjpeg-turbo's settings, not mozjpeg's trellis).
/// `None` when libjpeg fails.
fn encode_jpeg(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    sub: Subsampling,
    progressive: bool,
) -> Option<Vec<u8>> {
    std::panic::catch_unwind(|| {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_fastest_defaults();
        c.set_size(width as usize, height as usize);
        c.set_quality(f32::from(quality));
        let s = sub.pixel_sizes();
        c.set_chroma_sampling_pixel_sizes(s, s);
        if progressive {
            c.set_progressive_mode();
        }
        let mut started = c.start_compress(Vec::new()).ok()?;
        started.write_scanlines(rgb).ok()?;
        started.finish().ok()
    })
    .ok()
    .flatten()
}

/// Decodes `bytes` at every scale and compares each hash with the exact one.
fn measure(hasher: &mut PdqHasher, id: &str, bytes: &[u8]) -> crate::decode::Result<FidelityItem> {
    let mut hash_at = |n: u8| -> crate::decode::Result<(PdqHash, u32, u32, f64)> {
        let start = Instant::now();
        let img = decode_jpeg_at_scale(bytes, n)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok((
            hasher.hash(img.as_image_ref()),
            img.width,
            img.height,
            seconds,
        ))
    };
    let (exact, width, height, exact_seconds) = hash_at(8)?;
    let mut distances = [0u32; 7];
    let mut decode_seconds = [exact_seconds; 8];
    for n in 1..8u8 {
        let (h, _, _, s) = hash_at(n)?;
        distances[usize::from(n) - 1] = h.hash.distance(&exact.hash);
        decode_seconds[usize::from(n) - 1] = s;
    }
    Ok(FidelityItem {
        id: id.to_string(),
        width,
        height,
        quality: None,
        subsampling: None,
        progressive: false,
        held_out: is_held_out(id),
        distances,
        decode_seconds,
    })
}

/// Distances of one part of the corpus in one size band, under one rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BandSummary {
    /// Images.
    pub num_images: usize,
    /// Images the rule decodes at a reduced scale.
    pub num_scaled: usize,
    /// Images within [`PROMISED_BITS`].
    pub num_within_promise: usize,
    /// Images beyond [`HARD_LIMIT_BITS`].
    pub num_beyond_limit: usize,
    /// Median distance (lower median; 0 without images).
    pub median: u32,
    /// 99th percentile distance (nearest rank).
    pub p99: u32,
    /// Largest distance.
    pub max: u32,
    /// Median of exact decode time over fast decode time (1 where nothing is scaled).
    pub median_speedup: f64,
    /// Image counts at distance 0, 1, … 32, and beyond 32 at the last index.
    pub histogram: Vec<usize>,
}

impl FidelityReport {
    /// The distance of `item`'s fast hash to its exact hash under `rule`, a function from
    /// `(width, height)` to the libjpeg scale numerator (8: no scaling).
    #[must_use]
    pub fn distance(item: &FidelityItem, rule: &dyn Fn(u32, u32) -> u8) -> u32 {
        match rule(item.width, item.height) {
            n @ 1..=7 => item.distances[usize::from(n) - 1],
            _ => 0,
        }
    }

    /// Summaries per size band ([`SIZE_BANDS_MP`]) and one of all bands last, of the held-out
    /// part (`held_out`) or the tune part, under `rule`.
    #[must_use]
    pub fn summarize(&self, held_out: bool, rule: &dyn Fn(u32, u32) -> u8) -> Vec<BandSummary> {
        let mut per_band: Vec<Vec<(u32, u8, f64)>> = vec![Vec::new(); SIZE_BANDS_MP.len() + 1];
        for item in self.items.iter().filter(|i| i.held_out == held_out) {
            let n = rule(item.width, item.height).clamp(1, 8);
            let speedup = item.decode_seconds[7] / item.decode_seconds[usize::from(n) - 1];
            let d = Self::distance(item, rule);
            per_band[item.band()].push((d, n, speedup));
            per_band[SIZE_BANDS_MP.len()].push((d, n, speedup));
        }
        per_band.iter().map(|v| summarize_band(v)).collect()
    }

    /// Per-item CSV: sizes, encoding, part, the distance at each scale and under `rule`, and
    /// decode times.
    #[must_use]
    pub fn items_csv(&self, rule: &dyn Fn(u32, u32) -> u8) -> String {
        let mut s = String::from(
            "id,width,height,megapixels,quality,subsampling,progressive,part,rule_numerator,\
             rule_distance,d1,d2,d3,d4,d5,d6,d7,exact_decode_ms,rule_decode_ms\n",
        );
        for i in &self.items {
            let n = rule(i.width, i.height).clamp(1, 8);
            let _ = write!(
                s,
                "{},{},{},{:.3},{},{},{},{},{},{}",
                i.id.replace(',', "_"),
                i.width,
                i.height,
                i.megapixels(),
                i.quality.map_or(String::new(), |q| q.to_string()),
                i.subsampling.map_or("", Subsampling::as_str),
                i.progressive,
                if i.held_out { "held-out" } else { "tune" },
                n,
                Self::distance(i, rule),
            );
            for d in i.distances {
                let _ = write!(s, ",{d}");
            }
            let _ = writeln!(
                s,
                ",{:.3},{:.3}",
                i.decode_seconds[7] * 1e3,
                i.decode_seconds[usize::from(n) - 1] * 1e3
            );
        }
        s
    }

    /// The Markdown report under `rule` (named `rule_name`): a table per part and a
    /// histogram per size band of the held-out part.
    #[must_use]
    pub fn summary_markdown(&self, rule_name: &str, rule: &dyn Fn(u32, u32) -> u8) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# `--fast` fidelity: {rule_name}\n\nseed {}, {} JPEGs ({} held out). Distance = \
             Hamming distance of the fast hash to the exact hash; speed-up = exact decode time \
             / fast decode time (median, same run).\n",
            self.seed,
            self.items.len(),
            self.items.iter().filter(|i| i.held_out).count()
        );
        for (held_out, part) in [(false, "tune"), (true, "held-out")] {
            let _ = writeln!(
                s,
                "## {part}\n\n| size | images | scaled | ≤ {PROMISED_BITS} bits | > {HARD_LIMIT_BITS} bits | median | p99 | max | decode speed-up |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for (b, sum) in self.summarize(held_out, rule).iter().enumerate() {
                let within = if sum.num_images == 0 {
                    0.0
                } else {
                    100.0 * sum.num_within_promise as f64 / sum.num_images as f64
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {within:.1} % | {} | {} | {} | {} | {:.2}× |",
                    band_name(b),
                    sum.num_images,
                    sum.num_scaled,
                    sum.num_beyond_limit,
                    sum.median,
                    sum.p99,
                    sum.max,
                    sum.median_speedup
                );
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "## Histogram (held-out): images per distance\n\n| size | 0 | 1–2 | 3–4 | 5–6 | 7–8 | 9–10 | 11–12 | 13–16 | 17–24 | > 24 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (b, sum) in self.summarize(true, rule).iter().enumerate() {
            let bucket = |lo: usize, hi: usize| -> usize {
                sum.histogram[lo.min(33)..=hi.min(33)].iter().sum()
            };
            let _ = write!(s, "| {} | {}", band_name(b), bucket(0, 0));
            for (lo, hi) in [
                (1, 2),
                (3, 4),
                (5, 6),
                (7, 8),
                (9, 10),
                (11, 12),
                (13, 16),
                (17, 24),
                (25, 33),
            ] {
                let _ = write!(s, " | {}", bucket(lo, hi));
            }
            s.push_str(" |\n");
        }
        s
    }

    /// Writes `items.csv` and `summary.md` into `dir` (created if missing) and returns their
    /// paths.
    ///
    /// # Errors
    /// [`BenchError::Io`] naming the file that cannot be written.
    pub fn write(
        &self,
        dir: &Path,
        rule_name: &str,
        rule: &dyn Fn(u32, u32) -> u8,
    ) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut out = Vec::new();
        for (name, text) in [
            ("items.csv", self.items_csv(rule)),
            ("summary.md", self.summary_markdown(rule_name, rule)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io_err(&path))?;
            out.push(path);
        }
        Ok(out)
    }
}

/// `0.25–1 MP`, or `all` for the last summary.
fn band_name(b: usize) -> String {
    match (SIZE_BANDS_MP.get(b), SIZE_BANDS_MP.get(b + 1)) {
        (Some(lo), Some(hi)) => format!("{lo}–{hi} MP"),
        (Some(lo), None) => format!("≥ {lo} MP"),
        _ => "all".into(),
    }
}

/// One band's summary from `(distance, numerator, speed-up)` per image.
fn summarize_band(v: &[(u32, u8, f64)]) -> BandSummary {
    let mut d: Vec<u32> = v.iter().map(|x| x.0).collect();
    d.sort_unstable();
    let mut sp: Vec<f64> = v.iter().map(|x| x.2).collect();
    sp.sort_by(f64::total_cmp);
    let mut histogram = vec![0; 34];
    for &x in &d {
        histogram[(x as usize).min(33)] += 1;
    }
    let rank = |p: f64| d[((p * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1];
    BandSummary {
        num_images: d.len(),
        num_scaled: v.iter().filter(|x| x.1 < 8).count(),
        num_within_promise: d.iter().filter(|&&x| x <= PROMISED_BITS).count(),
        num_beyond_limit: d.iter().filter(|&&x| x > HARD_LIMIT_BITS).count(),
        median: if d.is_empty() {
            0
        } else {
            d[(d.len() - 1) / 2]
        },
        p99: if d.is_empty() { 0 } else { rank(0.99) },
        max: d.last().copied().unwrap_or(0),
        median_speedup: if sp.is_empty() {
            1.0
        } else {
            sp[(sp.len() - 1) / 2]
        },
        histogram,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, DecodeOptions};

    #[test]
    fn jpeg_files_finds_jpegs_in_every_subdirectory_in_path_order() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("b/c")).expect("mkdir");
        for name in ["b/c/x.JPG", "a.jpeg", "b/y.jpg", "b/z.png", "notes.txt"] {
            std::fs::write(d.path().join(name), b"").expect("write");
        }
        let found = jpeg_files(d.path()).expect("listed");
        let want: Vec<PathBuf> = ["a.jpeg", "b/c/x.JPG", "b/y.jpg"]
            .iter()
            .map(|n| d.path().join(n))
            .collect();
        assert_eq!(found, want);
        assert!(matches!(
            jpeg_files(&d.path().join("missing")),
            Err(BenchError::Io { .. })
        ));
    }

    #[test]
    fn scale_rules_pick_the_scales_they_name() {
        // 4000×3000: the current rule keeps 512 px a side (1/4 gives 1000×750).
        assert_eq!(ScaleRule::Current.numerator(4000, 3000), 2);
        // Under 1 MP: full size under the current rule, scaled under the earlier one.
        assert_eq!(ScaleRule::Current.numerator(1152, 864), 8);
        let earlier = ScaleRule::EveryEighth { min_side: 256 };
        assert_eq!(
            earlier.numerator(1152, 864),
            jpeg_scale_numerator(1152, 864, 256)
        );
        assert!(earlier.numerator(1152, 864) < 8);
        assert!(earlier.name().contains("256 px"));
    }

    /// The report's distances, split and summaries, against hashes computed here directly.
    #[test]
    fn report_numbers_match_a_direct_computation() {
        let files = vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pdq/images/pdq-data/bridge-mods/square-512x512.jpg"
        ))];
        let settings = FidelitySettings {
            seed: 5,
            num_generated: 8,
            max_megapixels: 0.3,
            files: files.clone(),
        };
        let report = measure_fidelity(&settings).expect("measured");
        assert_eq!(report.items.len(), 9);
        let rule = |w: u32, h: u32| jpeg_scale_numerator(w, h, 100);
        let mut hasher = PdqHasher::new();
        let mut direct = Vec::new();
        for (i, item) in report.items.iter().enumerate() {
            let bytes = if i < 8 {
                generate(5, i as u32, &item.id, 0.3).expect("generated").0
            } else {
                std::fs::read(&files[0]).expect("fixture")
            };
            let exact = decode(&bytes, &DecodeOptions::default()).expect("decoded");
            let n = rule(exact.width, exact.height);
            let fast = decode_jpeg_at_scale(&bytes, n).expect("decoded");
            assert!(fast.width < exact.width || n == 8);
            let d = hasher
                .hash(exact.as_image_ref())
                .hash
                .distance(&hasher.hash(fast.as_image_ref()).hash);
            assert_eq!(FidelityReport::distance(item, &rule), d, "{}", item.id);
            assert_eq!(item.held_out, is_held_out(&item.id));
            assert!(item.megapixels() <= 0.31, "{}", item.megapixels());
            direct.push((item.held_out, d, rule(item.width, item.height) < 8));
        }
        assert!(direct.iter().any(|x| x.2), "some items are scaled");
        for held_out in [false, true] {
            let mut d: Vec<u32> = direct
                .iter()
                .filter(|x| x.0 == held_out)
                .map(|x| x.1)
                .collect();
            d.sort_unstable();
            let all = report
                .summarize(held_out, &rule)
                .pop()
                .expect("an overall summary");
            assert_eq!(all.num_images, d.len());
            assert_eq!(
                all.num_scaled,
                direct.iter().filter(|x| x.0 == held_out && x.2).count()
            );
            assert_eq!(all.max, d.last().copied().unwrap_or(0));
            assert_eq!(
                all.median,
                d.get(d.len().saturating_sub(1) / 2).copied().unwrap_or(0)
            );
            assert_eq!(
                all.num_within_promise,
                d.iter().filter(|&&x| x <= PROMISED_BITS).count()
            );
            assert_eq!(all.histogram.iter().sum::<usize>(), d.len());
            for (k, &count) in all.histogram.iter().enumerate().take(33) {
                assert_eq!(count, d.iter().filter(|&&x| x as usize == k).count());
            }
        }
        // Under the identity rule nothing is scaled and every distance is 0.
        let none = report.summarize(true, &|_, _| 8).pop().expect("summary");
        assert_eq!((none.num_scaled, none.max), (0, 0));
        // The CSV has a header and one line per item.
        assert_eq!(report.items_csv(&rule).lines().count(), 10);
    }

    #[test]
    fn the_split_depends_on_the_id_only_and_halves_the_corpus() {
        let ids: Vec<String> = (0..2000).map(|i| format!("G{i:06}")).collect();
        let held = ids.iter().filter(|id| is_held_out(id)).count();
        assert!((900..1100).contains(&held), "{held}");
        assert_eq!(is_held_out("G000001"), is_held_out("G000001"));
    }
}
