//! The near-duplicate dataset: generation ([`DatasetBuilder`]) and reading ([`Dataset::open`]).
//!
//! # Layout of a dataset directory
//!
//! | path | what |
//! |---|---|
//! | `references/R000000.png` … | originals (photos keep their JPEG bytes), then distractors |
//! | `queries/Q000000.png` … | edited copies of the originals (`.jpg` for the JPEG edit) |
//! | `manifest.csv` | one line per image: `id,path,role,original,edit,param,width,height,sha256` |
//! | `ground_truth.csv` | ISC2021 ground truth: `query_id,reference_id` |
//! | `params.txt` | generator version, seed and settings |
//!
//! `role` is `original`, `distractor` or `query`; a query's `original` is the reference id it
//! was made from, `edit` and `param` say how (see [`Edit`]). Everything is a pure function of the
//! seed and the settings: each image draws from its own [`Rng::stream`], so generation runs in
//! parallel and the bytes do not depend on the thread count.

use super::edit::{Edit, EDIT_FAMILIES};
use super::error::{io_err, BenchError, Result};
use super::scene::scene;
use super::sha256::sha256_hex;
use crate::decode::{decode, DecodeOptions};
use crate::hash::{PdqHasher, PixelLayout};
use crate::rng::Rng;
use image::RgbImage;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Bumped whenever the same seed and settings would give different bytes.
pub const GENERATOR_VERSION: u32 = 2;
/// Default number of generated original scenes: enough for ~20 queries per edit parameter.
pub const DEFAULT_NUM_ORIGINALS: u32 = 100;
/// Default number of distractors: 10 per original, so false matches have room to show.
pub const DEFAULT_NUM_DISTRACTORS: u32 = 1000;
/// Default scene width (height is 3/4 of it): small enough to generate and hash quickly, large
/// enough that PDQ's 64×64 downsampling still averages many pixels.
pub const DEFAULT_SCENE_WIDTH: u32 = 320;
/// Photos whose dihedral PDQ distance to an earlier photo is at most this are skipped: they
/// would be near-duplicates counted as distinct images.
pub const PHOTO_DUPLICATE_DISTANCE: u32 = 31;

/// What an image is in the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A reference image that has queries made from it.
    Original,
    /// A reference image unrelated to every query.
    Distractor,
    /// An edited copy of an original.
    Query,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Original => "original",
            Role::Distractor => "distractor",
            Role::Query => "query",
        }
    }
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `R000123` (references) or `Q000123` (queries).
    pub id: String,
    /// Path relative to the dataset directory, with `/`.
    pub path: String,
    /// What the image is.
    pub role: Role,
    /// For queries, the reference id of the original; empty otherwise.
    pub original: String,
    /// Edit family ([`Edit::name`]); `photo` or `scene` for originals, `scene` for distractors.
    pub edit: String,
    /// Edit parameter ([`Edit::param`]), or the photo's file name for photo originals.
    pub param: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

const HEADER: &str = "id,path,role,original,edit,param,width,height,sha256";

/// A generated dataset, read back from its manifest.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The dataset directory.
    pub dir: PathBuf,
    /// The manifest's lines, references first.
    pub entries: Vec<Entry>,
    /// SHA-256 of `manifest.csv`, which pins every file's bytes.
    pub manifest_sha256: String,
}

impl Dataset {
    /// Reads `DIR/manifest.csv`.
    ///
    /// # Errors
    /// [`BenchError::Io`] when it cannot be read, [`BenchError::BadManifest`] when a line is
    /// malformed.
    pub fn open(dir: &Path) -> Result<Dataset> {
        let path = dir.join("manifest.csv");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let manifest_sha256 = sha256_hex(&bytes);
        let bad = |line, problem| BenchError::BadManifest {
            path: path.clone(),
            line,
            problem,
        };
        let text = String::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h == HEADER => {}
            _ => return Err(bad(1, "the header is not the one imprint writes")),
        }
        let mut entries = Vec::new();
        for (i, line) in lines {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 9 {
                return Err(bad(i + 1, "expected 9 comma-separated fields"));
            }
            let role = match f[2] {
                "original" => Role::Original,
                "distractor" => Role::Distractor,
                "query" => Role::Query,
                _ => return Err(bad(i + 1, "role is not original, distractor or query")),
            };
            if role == Role::Query && f[3].is_empty() {
                return Err(bad(i + 1, "a query names no original"));
            }
            entries.push(Entry {
                id: f[0].into(),
                path: f[1].into(),
                role,
                original: f[3].into(),
                edit: f[4].into(),
                param: f[5].into(),
                width: f[6]
                    .parse()
                    .map_err(|_| bad(i + 1, "width is not a number"))?,
                height: f[7]
                    .parse()
                    .map_err(|_| bad(i + 1, "height is not a number"))?,
                sha256: f[8].into(),
            });
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            entries,
            manifest_sha256,
        })
    }
}

/// Builds a dataset. Defaults: [`DEFAULT_NUM_ORIGINALS`], [`DEFAULT_NUM_DISTRACTORS`],
/// [`DEFAULT_SCENE_WIDTH`], no photos.
///
/// Time O(images × pixels); memory one image per worker thread.
#[derive(Clone, Debug)]
pub struct DatasetBuilder {
    seed: u64,
    num_originals: u32,
    num_distractors: u32,
    scene_width: u32,
    photos: Vec<PathBuf>,
}

/// An image to write: where, its pixels or bytes, and its manifest line.
struct Made {
    entry: Entry,
    bytes: Vec<u8>,
}

impl DatasetBuilder {
    /// A builder for `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        DatasetBuilder {
            seed,
            num_originals: DEFAULT_NUM_ORIGINALS,
            num_distractors: DEFAULT_NUM_DISTRACTORS,
            scene_width: DEFAULT_SCENE_WIDTH,
            photos: Vec::new(),
        }
    }

    /// Number of generated original scenes (photos come in addition).
    #[must_use]
    pub fn originals(mut self, n: u32) -> Self {
        self.num_originals = n;
        self
    }

    /// Number of distractors.
    #[must_use]
    pub fn distractors(mut self, n: u32) -> Self {
        self.num_distractors = n;
        self
    }

    /// Width of generated scenes in pixels (height is 3/4 of it, distractors vary ±25 %).
    #[must_use]
    pub fn scene_width(mut self, width: u32) -> Self {
        self.scene_width = width;
        self
    }

    /// Photos (JPEG or PNG files) used as originals before the generated scenes, in this order.
    #[must_use]
    pub fn photos(mut self, photos: Vec<PathBuf>) -> Self {
        self.photos = photos;
        self
    }

    /// Generates the dataset into `out` (created if needed; existing files of the same names
    /// are overwritten) and returns it as [`Dataset::open`] would.
    ///
    /// # Errors
    /// [`BenchError::InvalidSettings`] for a scene width under 16 or no originals at all;
    /// [`BenchError::Io`], [`BenchError::Decode`] or [`BenchError::Encode`] naming the file.
    pub fn build(&self, out: &Path) -> Result<Dataset> {
        if self.scene_width < 16 {
            return Err(BenchError::InvalidSettings {
                problem: "scene width must be at least 16 pixels",
            });
        }
        for sub in ["references", "queries"] {
            let d = out.join(sub);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let photos = self.load_photos()?;
        if photos.is_empty() && self.num_originals == 0 {
            return Err(BenchError::InvalidSettings {
                problem: "a dataset needs at least one original",
            });
        }
        let num_photos = photos.len() as u32;
        let num_refs = num_photos + self.num_originals + self.num_distractors;

        // References: photos, scenes, distractors.
        let references: Vec<(Made, Option<RgbImage>)> = (0..num_refs)
            .into_par_iter()
            .map(|k| self.make_reference(k, &photos))
            .collect::<Result<_>>()?;

        // Queries: one per original and edit family.
        let num_originals = num_photos + self.num_originals;
        let jobs: Vec<(u32, usize)> = (0..num_originals)
            .flat_map(|o| (0..EDIT_FAMILIES.len()).map(move |f| (o, f)))
            .collect();
        let queries: Vec<Made> = jobs
            .par_iter()
            .enumerate()
            .map(|(q, &(o, f))| {
                let (made, img) = &references[o as usize];
                let img = img.as_ref().expect("originals keep their pixels");
                self.make_query(q as u32, o, f, img, &made.bytes)
            })
            .collect::<Result<_>>()?;

        let mut manifest = String::from(HEADER);
        manifest.push('\n');
        let mut truth = String::from("query_id,reference_id\n");
        for made in references.iter().map(|(m, _)| m).chain(&queries) {
            let path = out.join(&made.entry.path);
            std::fs::write(&path, &made.bytes).map_err(io_err(&path))?;
            let e = &made.entry;
            let _ = writeln!(
                manifest,
                "{},{},{},{},{},{},{},{},{}",
                e.id,
                e.path,
                e.role.as_str(),
                e.original,
                e.edit,
                e.param,
                e.width,
                e.height,
                e.sha256
            );
            if e.role == Role::Query {
                let _ = writeln!(truth, "{},{}", e.id, e.original);
            }
        }
        let write = |name: &str, text: &str| {
            let p = out.join(name);
            std::fs::write(&p, text).map_err(io_err(&p))
        };
        write("manifest.csv", &manifest)?;
        write("ground_truth.csv", &truth)?;
        let photo_names: Vec<String> = photos.iter().map(|(n, _, _)| n.clone()).collect();
        write(
            "params.txt",
            &format!(
                "generator_version={GENERATOR_VERSION}\nseed={}\noriginals={}\nphotos={}\n\
                 distractors={}\nscene_width={}\nimprint_version={}\n",
                self.seed,
                self.num_originals,
                photo_names.join(" "),
                self.num_distractors,
                self.scene_width,
                env!("CARGO_PKG_VERSION"),
            ),
        )?;
        Dataset::open(out)
    }

    /// Reads the photos, skipping near-duplicates of earlier ones: `(file name, bytes, pixels)`.
    fn load_photos(&self) -> Result<Vec<(String, Vec<u8>, RgbImage)>> {
        let mut hasher = PdqHasher::new();
        let mut kept: Vec<(String, Vec<u8>, RgbImage)> = Vec::new();
        let mut kept_hashes = Vec::new();
        for path in &self.photos {
            let bytes = std::fs::read(path).map_err(io_err(path))?;
            let d =
                decode(&bytes, &DecodeOptions::default()).map_err(|source| BenchError::Decode {
                    path: path.clone(),
                    source,
                })?;
            let dihedral = hasher.hash_dihedral(d.as_image_ref());
            let plain = hasher.hash(d.as_image_ref()).hash;
            let duplicate = kept_hashes.iter().any(|k: &crate::hash::Pdq256| {
                dihedral
                    .hashes
                    .iter()
                    .any(|h| h.distance(k) <= PHOTO_DUPLICATE_DISTANCE)
            });
            if duplicate {
                log::info!(
                    "{}: near-duplicate of an earlier photo, skipped",
                    path.display()
                );
                continue;
            }
            kept_hashes.push(plain);
            let rgb = match d.layout {
                PixelLayout::Gray8 => d.pixels.iter().flat_map(|&v| [v, v, v]).collect(),
                _ => d.pixels,
            };
            let img = RgbImage::from_raw(d.width, d.height, rgb)
                .expect("decoded RGB holds width × height × 3 bytes");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().replace(',', "_"))
                .unwrap_or_default();
            kept.push((name, bytes, img));
        }
        Ok(kept)
    }

    fn make_reference(
        &self,
        k: u32,
        photos: &[(String, Vec<u8>, RgbImage)],
    ) -> Result<(Made, Option<RgbImage>)> {
        let id = format!("R{k:06}");
        let num_photos = photos.len() as u32;
        if let Some((name, bytes, img)) = photos.get(k as usize) {
            let ext = if bytes.starts_with(&[0xFF, 0xD8]) {
                "jpg"
            } else {
                "png"
            };
            let entry = Entry {
                id: id.clone(),
                path: format!("references/{id}.{ext}"),
                role: Role::Original,
                original: String::new(),
                edit: "photo".into(),
                param: name.clone(),
                width: img.width(),
                height: img.height(),
                sha256: sha256_hex(bytes),
            };
            let made = Made {
                entry,
                bytes: bytes.clone(),
            };
            return Ok((made, Some(img.clone())));
        }
        let is_original = k < num_photos + self.num_originals;
        let mut rng = Rng::stream(self.seed, (1 << 40) | u64::from(k));
        let (w, h) = if is_original {
            (self.scene_width, self.scene_width * 3 / 4)
        } else {
            let w = (f64::from(self.scene_width) * rng.range(0.75, 1.25)) as u32;
            (w, (f64::from(w) * rng.range(0.6, 1.0)) as u32)
        };
        let img = scene(rng.next_u64(), w, h);
        let path = format!("references/{id}.png");
        let bytes = encode(&img, Encoding::Png, &path)?;
        let entry = Entry {
            id,
            path,
            role: if is_original {
                Role::Original
            } else {
                Role::Distractor
            },
            original: String::new(),
            edit: "scene".into(),
            param: String::new(),
            width: w,
            height: h,
            sha256: sha256_hex(&bytes),
        };
        Ok((Made { entry, bytes }, is_original.then_some(img)))
    }

    fn make_query(
        &self,
        q: u32,
        original: u32,
        family: usize,
        img: &RgbImage,
        original_bytes: &[u8],
    ) -> Result<Made> {
        let mut rng = Rng::stream(self.seed, (2 << 40) | u64::from(q));
        let edit = *rng.pick(EDIT_FAMILIES[family]);
        let id = format!("Q{q:06}");
        let (bytes, ext, (w, h)) = if edit == Edit::Identical {
            let ext = if original_bytes.starts_with(&[0xFF, 0xD8]) {
                "jpg"
            } else {
                "png"
            };
            (original_bytes.to_vec(), ext, img.dimensions())
        } else {
            let out = edit.apply(img, &mut rng);
            let encoding = match edit {
                Edit::Jpeg { quality } => Encoding::Jpeg(quality),
                Edit::WebP { quality } => Encoding::WebP(quality),
                _ => Encoding::Png,
            };
            let ext = encoding.extension();
            let path = format!("queries/{id}.{ext}");
            (encode(&out, encoding, &path)?, ext, out.dimensions())
        };
        Ok(Made {
            entry: Entry {
                path: format!("queries/{id}.{ext}"),
                id,
                role: Role::Query,
                original: format!("R{original:06}"),
                edit: edit.name().into(),
                param: edit.param(),
                width: w,
                height: h,
                sha256: sha256_hex(&bytes),
            },
            bytes,
        })
    }
}

/// How a generated image is stored.
#[derive(Clone, Copy)]
enum Encoding {
    /// Lossless (references, distractors and most queries).
    Png,
    /// JPEG of this quality (the `image` crate's encoder, 4:2:0).
    Jpeg(u8),
    /// Lossy WebP of this quality (libwebp).
    WebP(u8),
}

impl Encoding {
    fn extension(self) -> &'static str {
        match self {
            Encoding::Png => "png",
            Encoding::Jpeg(_) => "jpg",
            Encoding::WebP(_) => "webp",
        }
    }
}

/// `img` as a lossy WebP of `quality` (0–100): libwebp's encoder with its default settings, as
/// the `webp` edit stores its queries. `None` when libwebp refuses the image (a side over
/// 16,383 pixels).
#[must_use]
pub fn encode_webp(img: &RgbImage, quality: u8) -> Option<Vec<u8>> {
    let (w, h) = img.dimensions();
    crate::decode::webp::encode_lossy(img.as_raw(), w, h, f32::from(quality))
}

fn encode(img: &RgbImage, encoding: Encoding, path: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let result = match encoding {
        Encoding::Png => img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut bytes)),
        Encoding::Jpeg(q) => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q).encode_image(img)
        }
        Encoding::WebP(q) => encode_webp(img, q).map(|webp| bytes = webp).ok_or_else(|| {
            image::ImageError::Encoding(image::error::EncodingError::new(
                image::ImageFormat::WebP.into(),
                "libwebp refused the image",
            ))
        }),
    };
    result.map_err(|source| BenchError::Encode {
        path: path.into(),
        source,
    })?;
    Ok(bytes)
}
