//! Procedural scenes: seeded RGB images made of a colour gradient, low-frequency value noise,
//! a striped texture and filled shapes. Two scenes from different seeds share no structure, so
//! their PDQ hashes are about 128 bits apart, like unrelated photos.

use crate::rng::Rng;
use image::RgbImage;

/// One filled shape of a scene.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Rect { x0: f32, y0: f32, x1: f32, y1: f32 },
    Ellipse { cx: f32, cy: f32, rx: f32, ry: f32 },
    Triangle { p: [(f32, f32); 3] },
}

impl Shape {
    fn random(rng: &mut Rng) -> Shape {
        let c = |rng: &mut Rng| rng.range(-0.1, 1.1) as f32;
        match rng.below(3) {
            0 => {
                let (x, y) = (c(rng), c(rng));
                let (w, h) = (rng.range(0.05, 0.6) as f32, rng.range(0.05, 0.6) as f32);
                Shape::Rect {
                    x0: x - w / 2.0,
                    y0: y - h / 2.0,
                    x1: x + w / 2.0,
                    y1: y + h / 2.0,
                }
            }
            1 => Shape::Ellipse {
                cx: c(rng),
                cy: c(rng),
                rx: rng.range(0.03, 0.35) as f32,
                ry: rng.range(0.03, 0.35) as f32,
            },
            _ => Shape::Triangle {
                p: [(c(rng), c(rng)), (c(rng), c(rng)), (c(rng), c(rng))],
            },
        }
    }

    /// Whether the point `(x, y)` (both in `[0, 1]`) is inside.
    fn contains(&self, x: f32, y: f32) -> bool {
        match *self {
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x < x1 && y >= y0 && y < y1,
            Shape::Ellipse { cx, cy, rx, ry } => {
                let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
                dx * dx + dy * dy <= 1.0
            }
            Shape::Triangle { p } => {
                let side = |a: (f32, f32), b: (f32, f32)| {
                    (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0)
                };
                let (d0, d1, d2) = (side(p[0], p[1]), side(p[1], p[2]), side(p[2], p[0]));
                (d0 >= 0.0 && d1 >= 0.0 && d2 >= 0.0) || (d0 <= 0.0 && d1 <= 0.0 && d2 <= 0.0)
            }
        }
    }
}

fn colour(rng: &mut Rng) -> [f32; 3] {
    [
        rng.range(0.0, 255.0) as f32,
        rng.range(0.0, 255.0) as f32,
        rng.range(0.0, 255.0) as f32,
    ]
}

/// Generates the scene for `seed` at `width × height` pixels.
///
/// The scene is defined in unit coordinates, so one seed at two sizes gives the same picture.
/// Time O(width × height × shapes); no allocation besides the output.
#[must_use]
pub fn scene(seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::new(seed);
    let corners = [
        colour(&mut rng),
        colour(&mut rng),
        colour(&mut rng),
        colour(&mut rng),
    ];
    // Low-frequency value noise on a coarse grid, bilinearly interpolated.
    let grid = rng.between(3, 8) as usize;
    let noise: Vec<f32> = (0..(grid + 1) * (grid + 1))
        .map(|_| rng.range(-1.0, 1.0) as f32)
        .collect();
    let noise_amp = rng.range(20.0, 70.0) as f32;
    // A striped texture inside one ellipse.
    let stripe_f = (rng.range(4.0, 40.0) as f32, rng.range(-40.0, 40.0) as f32);
    let stripe_area = Shape::Ellipse {
        cx: rng.range(0.2, 0.8) as f32,
        cy: rng.range(0.2, 0.8) as f32,
        rx: rng.range(0.1, 0.4) as f32,
        ry: rng.range(0.1, 0.4) as f32,
    };
    let stripe_colour = colour(&mut rng);
    let num_shapes = rng.between(3, 9);
    let shapes: Vec<(Shape, [f32; 3])> = (0..num_shapes)
        .map(|_| (Shape::random(&mut rng), colour(&mut rng)))
        .collect();

    let mut img = RgbImage::new(width, height);
    let (wf, hf) = (width as f32, height as f32);
    for (px, py, p) in img.enumerate_pixels_mut() {
        let x = (px as f32 + 0.5) / wf;
        let y = (py as f32 + 0.5) / hf;
        let mut c = [0f32; 3];
        for (k, ck) in c.iter_mut().enumerate() {
            let top = corners[0][k] * (1.0 - x) + corners[1][k] * x;
            let bottom = corners[2][k] * (1.0 - x) + corners[3][k] * x;
            *ck = top * (1.0 - y) + bottom * y;
        }
        let (gx, gy) = (x * grid as f32, y * grid as f32);
        let (ix, iy) = ((gx as usize).min(grid - 1), (gy as usize).min(grid - 1));
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let at = |i: usize, j: usize| noise[j * (grid + 1) + i];
        let n = (at(ix, iy) * (1.0 - fx) + at(ix + 1, iy) * fx) * (1.0 - fy)
            + (at(ix, iy + 1) * (1.0 - fx) + at(ix + 1, iy + 1) * fx) * fy;
        for ck in &mut c {
            *ck += n * noise_amp;
        }
        if stripe_area.contains(x, y) && (stripe_f.0 * x + stripe_f.1 * y).sin() > 0.0 {
            c = stripe_colour;
        }
        for (shape, sc) in &shapes {
            if shape.contains(x, y) {
                c = *sc;
            }
        }
        p.0 = c.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_pixels() {
        assert_eq!(scene(5, 40, 30), scene(5, 40, 30));
        assert_ne!(scene(5, 40, 30), scene(6, 40, 30));
    }
}
