//! Edits applied to an original to make a near-duplicate query, each a pure function of the
//! image, its parameter and a seeded [`Rng`].

use crate::rng::Rng;
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use std::fmt;

/// One edit and its parameter, as recorded in the manifest.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Edit {
    /// An exact copy of the original's bytes.
    Identical,
    /// Resize both sides by `scale` (triangle filter).
    Resize {
        /// Scale factor, 0.25–2.
        scale: f64,
    },
    /// Re-encode as JPEG.
    Jpeg {
        /// libjpeg-style quality, 10–95.
        quality: u8,
    },
    /// Re-encode as lossy WebP (libwebp's encoder, default settings), as image hosts and
    /// messaging apps do.
    WebP {
        /// libwebp quality, 10–95.
        quality: u8,
    },
    /// Keep a random window without `fraction` of each side.
    Crop {
        /// Fraction of width and of height removed, 0.05–0.4.
        fraction: f64,
    },
    /// Pad every side with a solid colour.
    Border {
        /// Border width as a fraction of the image's width (height for top and bottom).
        fraction: f64,
    },
    /// Rotate by a multiple of 90° clockwise.
    Rotate {
        /// 90, 180 or 270.
        degrees: u32,
    },
    /// Flip left to right.
    Mirror,
    /// Rotate about the centre by a small angle (bilinear; corners filled black; same size).
    SmallRotation {
        /// Counter-clockwise angle in degrees, ±2–10.
        degrees: f64,
    },
    /// Gaussian blur.
    Blur {
        /// Standard deviation as a percentage of the shorter side.
        sigma_percent: f64,
    },
    /// Additive Gaussian noise, independent per channel.
    Noise {
        /// Standard deviation in 8-bit levels.
        sigma: f64,
    },
    /// Add a constant to every channel.
    Brightness {
        /// Levels added (negative darkens).
        delta: i32,
    },
    /// Scale the distance of every channel from mid-grey.
    Contrast {
        /// Factor (below 1 flattens).
        factor: f64,
    },
    /// `255 × (v / 255)^gamma` per channel.
    Gamma {
        /// Exponent.
        gamma: f64,
    },
    /// Replace colour by luma (grey RGB).
    Greyscale,
    /// Random 5×7 glyphs drawn as a line of caption text.
    Text {
        /// Caption height as a fraction of the image height.
        size: f64,
    },
    /// A solid logo (disc with an inner square) in a corner.
    Logo {
        /// Logo side as a fraction of the shorter side.
        size: f64,
    },
    /// Stretch the width by `factor`, keeping the height.
    Aspect {
        /// Width factor.
        factor: f64,
    },
}

/// Every edit family and the parameters the generator draws from (one per original and family).
pub const EDIT_FAMILIES: &[&[Edit]] = &[
    &[Edit::Identical],
    &[
        Edit::Resize { scale: 0.25 },
        Edit::Resize { scale: 0.5 },
        Edit::Resize { scale: 0.75 },
        Edit::Resize { scale: 1.5 },
        Edit::Resize { scale: 2.0 },
    ],
    &[
        Edit::Jpeg { quality: 10 },
        Edit::Jpeg { quality: 30 },
        Edit::Jpeg { quality: 50 },
        Edit::Jpeg { quality: 75 },
        Edit::Jpeg { quality: 95 },
    ],
    &[
        Edit::WebP { quality: 10 },
        Edit::WebP { quality: 30 },
        Edit::WebP { quality: 50 },
        Edit::WebP { quality: 75 },
        Edit::WebP { quality: 95 },
    ],
    &[
        Edit::Crop { fraction: 0.05 },
        Edit::Crop { fraction: 0.1 },
        Edit::Crop { fraction: 0.2 },
        Edit::Crop { fraction: 0.3 },
        Edit::Crop { fraction: 0.4 },
    ],
    &[
        Edit::Border { fraction: 0.05 },
        Edit::Border { fraction: 0.1 },
        Edit::Border { fraction: 0.2 },
    ],
    &[
        Edit::Rotate { degrees: 90 },
        Edit::Rotate { degrees: 180 },
        Edit::Rotate { degrees: 270 },
    ],
    &[Edit::Mirror],
    &[
        Edit::SmallRotation { degrees: 2.0 },
        Edit::SmallRotation { degrees: -5.0 },
        Edit::SmallRotation { degrees: 10.0 },
    ],
    &[
        Edit::Blur { sigma_percent: 0.5 },
        Edit::Blur { sigma_percent: 1.0 },
        Edit::Blur { sigma_percent: 2.0 },
        Edit::Blur { sigma_percent: 4.0 },
    ],
    &[
        Edit::Noise { sigma: 5.0 },
        Edit::Noise { sigma: 10.0 },
        Edit::Noise { sigma: 20.0 },
        Edit::Noise { sigma: 40.0 },
    ],
    &[
        Edit::Brightness { delta: -60 },
        Edit::Brightness { delta: -30 },
        Edit::Brightness { delta: 30 },
        Edit::Brightness { delta: 60 },
    ],
    &[
        Edit::Contrast { factor: 0.5 },
        Edit::Contrast { factor: 0.75 },
        Edit::Contrast { factor: 1.5 },
        Edit::Contrast { factor: 2.0 },
    ],
    &[
        Edit::Gamma { gamma: 0.5 },
        Edit::Gamma { gamma: 0.7 },
        Edit::Gamma { gamma: 1.4 },
        Edit::Gamma { gamma: 2.0 },
    ],
    &[Edit::Greyscale],
    &[
        Edit::Text { size: 0.05 },
        Edit::Text { size: 0.1 },
        Edit::Text { size: 0.2 },
    ],
    &[
        Edit::Logo { size: 0.1 },
        Edit::Logo { size: 0.2 },
        Edit::Logo { size: 0.3 },
    ],
    &[
        Edit::Aspect { factor: 0.6 },
        Edit::Aspect { factor: 0.8 },
        Edit::Aspect { factor: 1.25 },
        Edit::Aspect { factor: 1.6 },
    ],
];

impl Edit {
    /// The family name, as in the manifest's `edit` column.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Edit::Identical => "identical",
            Edit::Resize { .. } => "resize",
            Edit::Jpeg { .. } => "jpeg",
            Edit::WebP { .. } => "webp",
            Edit::Crop { .. } => "crop",
            Edit::Border { .. } => "border",
            Edit::Rotate { .. } => "rotate",
            Edit::Mirror => "mirror",
            Edit::SmallRotation { .. } => "small_rotation",
            Edit::Blur { .. } => "blur",
            Edit::Noise { .. } => "noise",
            Edit::Brightness { .. } => "brightness",
            Edit::Contrast { .. } => "contrast",
            Edit::Gamma { .. } => "gamma",
            Edit::Greyscale => "greyscale",
            Edit::Text { .. } => "text",
            Edit::Logo { .. } => "logo",
            Edit::Aspect { .. } => "aspect",
        }
    }

    /// The parameter as written in the manifest's `param` column (empty when there is none).
    #[must_use]
    pub fn param(&self) -> String {
        match *self {
            Edit::Identical | Edit::Mirror | Edit::Greyscale => String::new(),
            Edit::Resize { scale: v }
            | Edit::Crop { fraction: v }
            | Edit::Border { fraction: v }
            | Edit::SmallRotation { degrees: v }
            | Edit::Blur { sigma_percent: v }
            | Edit::Noise { sigma: v }
            | Edit::Contrast { factor: v }
            | Edit::Gamma { gamma: v }
            | Edit::Text { size: v }
            | Edit::Logo { size: v }
            | Edit::Aspect { factor: v } => format!("{v}"),
            Edit::Jpeg { quality } | Edit::WebP { quality } => quality.to_string(),
            Edit::Rotate { degrees } => degrees.to_string(),
            Edit::Brightness { delta } => delta.to_string(),
        }
    }

    /// Whether the query is a dihedral transform of the original (rotate, mirror), which only
    /// dihedral matching is expected to find.
    #[must_use]
    pub fn is_dihedral(&self) -> bool {
        matches!(self, Edit::Rotate { .. } | Edit::Mirror)
    }

    /// Whether the result is stored as JPEG (the JPEG edit), not PNG or WebP.
    #[must_use]
    pub fn is_jpeg(&self) -> bool {
        matches!(self, Edit::Jpeg { .. })
    }

    /// Applies the edit. [`Edit::Jpeg`], [`Edit::WebP`] and [`Edit::Identical`] return the
    /// pixels unchanged: the encoding is the writer's job.
    #[must_use]
    pub fn apply(&self, img: &RgbImage, rng: &mut Rng) -> RgbImage {
        let (w, h) = img.dimensions();
        match *self {
            Edit::Identical | Edit::Jpeg { .. } | Edit::WebP { .. } => img.clone(),
            Edit::Resize { scale } => {
                let (nw, nh) = (scaled(w, scale), scaled(h, scale));
                imageops::resize(img, nw, nh, FilterType::Triangle)
            }
            Edit::Crop { fraction } => {
                let (nw, nh) = (scaled(w, 1.0 - fraction), scaled(h, 1.0 - fraction));
                let x = rng.below(u64::from(w - nw) + 1) as u32;
                let y = rng.below(u64::from(h - nh) + 1) as u32;
                imageops::crop_imm(img, x, y, nw, nh).to_image()
            }
            Edit::Border { fraction } => {
                let (bx, by) = (scaled(w, fraction), scaled(h, fraction));
                let fill = Rgb([
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                ]);
                let mut out = RgbImage::from_pixel(w + 2 * bx, h + 2 * by, fill);
                imageops::replace(&mut out, img, i64::from(bx), i64::from(by));
                out
            }
            Edit::Rotate { degrees: 90 } => imageops::rotate90(img),
            Edit::Rotate { degrees: 180 } => imageops::rotate180(img),
            Edit::Rotate { .. } => imageops::rotate270(img),
            Edit::Mirror => imageops::flip_horizontal(img),
            Edit::SmallRotation { degrees } => rotate_small(img, degrees),
            Edit::Blur { sigma_percent } => {
                let sigma = (sigma_percent / 100.0 * f64::from(w.min(h))) as f32;
                imageops::blur(img, sigma.max(0.3))
            }
            Edit::Noise { sigma } => {
                let mut out = img.clone();
                for v in out.iter_mut() {
                    *v = clamp_u8(f64::from(*v) + sigma * gaussian(rng));
                }
                out
            }
            Edit::Brightness { delta } => map(img, |v| clamp_u8(f64::from(v) + f64::from(delta))),
            Edit::Contrast { factor } => {
                map(img, |v| clamp_u8(128.0 + (f64::from(v) - 128.0) * factor))
            }
            Edit::Gamma { gamma } => map(img, |v| {
                clamp_u8(255.0 * (f64::from(v) / 255.0).powf(gamma))
            }),
            Edit::Greyscale => {
                let mut out = img.clone();
                for p in out.pixels_mut() {
                    let [r, g, b] = p.0;
                    let y = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
                    p.0 = [clamp_u8(y); 3];
                }
                out
            }
            Edit::Text { size } => {
                let mut out = img.clone();
                draw_text(&mut out, size, rng);
                out
            }
            Edit::Logo { size } => {
                let mut out = img.clone();
                draw_logo(&mut out, size, rng);
                out
            }
            Edit::Aspect { factor } => {
                imageops::resize(img, scaled(w, factor), h, FilterType::Triangle)
            }
        }
    }
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.param();
        if p.is_empty() {
            f.write_str(self.name())
        } else {
            write!(f, "{}={p}", self.name())
        }
    }
}

fn scaled(side: u32, factor: f64) -> u32 {
    ((f64::from(side) * factor).round() as u32).max(1)
}

fn clamp_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn map(img: &RgbImage, f: impl Fn(u8) -> u8) -> RgbImage {
    let lut: Vec<u8> = (0..=255u8).map(f).collect();
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = lut[*v as usize];
    }
    out
}

/// A standard normal sample (Box–Muller, one of the pair).
fn gaussian(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1], so the log is finite
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn rotate_small(img: &RgbImage, degrees: f64) -> RgbImage {
    let (w, h) = img.dimensions();
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let mut out = RgbImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        // Inverse map: where in the source does this output pixel come from?
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        let sx = c * dx - s * dy + cx - 0.5;
        let sy = s * dx + c * dy + cy - 0.5;
        if sx < 0.0 || sy < 0.0 || sx > f64::from(w - 1) || sy > f64::from(h - 1) {
            continue;
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - f64::from(x0), sy - f64::from(y0));
        for k in 0..3 {
            let at = |x: u32, y: u32| f64::from(img.get_pixel(x, y).0[k]);
            let v = (at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx) * (1.0 - fy)
                + (at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx) * fy;
            p.0[k] = clamp_u8(v);
        }
    }
    out
}

fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: Rgb<u8>) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    for yy in y.max(0)..(y + h).min(ih) {
        for xx in x.max(0)..(x + w).min(iw) {
            img.put_pixel(xx as u32, yy as u32, colour);
        }
    }
}

/// A caption of random 5×7 glyphs (pseudo-text) on the lower third, white or black.
fn draw_text(img: &mut RgbImage, size: f64, rng: &mut Rng) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let cell = ((h as f64 * size / 7.0).round() as i64).max(1);
    let num_glyphs = (w * 8 / 10 / (6 * cell)).max(1);
    let colour = if rng.below(2) == 0 {
        Rgb([255, 255, 255])
    } else {
        Rgb([0, 0, 0])
    };
    let x0 = (w - num_glyphs * 6 * cell) / 2;
    let y0 = h * 2 / 3 + rng.below((h / 6).max(1) as u64) as i64 - 7 * cell / 2;
    for g in 0..num_glyphs {
        let bits = rng.next_u64();
        for row in 0..7 {
            for col in 0..5 {
                if bits >> (row * 5 + col) & 1 == 1 {
                    let x = x0 + (g * 6 + col) * cell;
                    fill_rect(img, x, y0 + row * cell, cell, cell, colour);
                }
            }
        }
    }
}

/// A disc with a contrasting inner square in a random corner.
fn draw_logo(img: &mut RgbImage, size: f64, rng: &mut Rng) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let side = ((w.min(h) as f64 * size).round() as i64).max(2);
    let margin = side / 4;
    let x0 = if rng.below(2) == 0 {
        margin
    } else {
        w - side - margin
    };
    let y0 = if rng.below(2) == 0 {
        margin
    } else {
        h - side - margin
    };
    let outer = Rgb([
        rng.below(256) as u8,
        rng.below(256) as u8,
        rng.below(256) as u8,
    ]);
    let inner = Rgb(outer.0.map(|v| 255 - v));
    let r = side as f64 / 2.0;
    for yy in 0..side {
        for xx in 0..side {
            let (dx, dy) = (xx as f64 + 0.5 - r, yy as f64 + 0.5 - r);
            if dx * dx + dy * dy <= r * r {
                fill_rect(img, x0 + xx, y0 + yy, 1, 1, outer);
            }
        }
    }
    fill_rect(
        img,
        x0 + side * 3 / 10,
        y0 + side * 3 / 10,
        side * 2 / 5,
        side * 2 / 5,
        inner,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scene;

    #[test]
    fn every_edit_produces_an_image_of_the_stated_shape() {
        let img = scene(1, 64, 48);
        for family in EDIT_FAMILIES {
            for edit in *family {
                let out = edit.apply(&img, &mut Rng::new(3));
                let (w, h) = out.dimensions();
                match edit {
                    Edit::Rotate { degrees: 90 | 270 } => assert_eq!((w, h), (48, 64)),
                    Edit::Resize { scale } => assert_eq!(w, scaled(64, *scale), "{edit}"),
                    Edit::Crop { .. } => assert!(w < 64 && h < 48, "{edit}"),
                    Edit::Border { .. } => assert!(w > 64 && h > 48, "{edit}"),
                    Edit::Aspect { factor } => assert_eq!((w, h), (scaled(64, *factor), 48)),
                    _ => assert_eq!((w, h), (64, 48), "{edit}"),
                }
            }
        }
    }

    #[test]
    fn small_rotation_by_zero_is_identity() {
        let img = scene(2, 32, 24);
        assert_eq!(rotate_small(&img, 0.0), img);
    }
}
