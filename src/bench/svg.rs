//! Plots as plain SVG text: grouped bar charts and line charts with linear or log axes. No
//! fonts or scripts are embedded, so the files drop into papers and web pages as they are.
//!
//! Hand-written rather than `plotters` (0.3.7, SVG backend only, `default-features = false`),
//! measured on the three charts `imprint bench robustness` writes, same data and size:
//!
//! | | this module | plotters |
//! |---|---|---|
//! | `recall_per_edit.svg` (18 edits × 2 series) | 6.3 kB, 112 elements | 22.5 kB, 218 elements |
//! | `distance_histogram.svg` (4 × 257 points) | 14.9 kB, 43 elements | 32.2 kB, 247 elements |
//! | `roc.svg` (2 × 257 points, log x) | 8.0 kB, 38 elements | 24.6 kB, 216 elements |
//! | crates added / cold build | none | 3 (`plotters`, `-backend`, `-svg`), 4.4 s |
//!
//! plotters writes 2–3.6 times the bytes (an element per grid line, attributes repeated on
//! each), and cannot render what these charts show: it has no grouped bars (each bar placed by
//! hand), rotates text only by multiples of 90° (the edit names here are at 45°) and gives no
//! per-bar `<title>` (the value on hover). Its rendering is faster (0.7 ms against 1.8 ms for
//! the three charts), which does not matter for three charts a run.

use std::fmt::Write as _;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 90.0;

/// Colours of successive series (colour-blind-safe Okabe–Ito palette).
pub const PALETTE: [&str; 4] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"];

/// An axis: linear, or log10 (values ≤ 0 are drawn at the lower bound).
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Logarithmic (base 10).
    pub log: bool,
}

impl Axis {
    fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            let v = v.max(self.min);
            (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        f.clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (
                self.min.log10().floor() as i32,
                self.max.log10().ceil() as i32,
            );
            (a..=b).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=5)
                .map(|i| self.min + (self.max - self.min) * f64::from(i) / 5.0)
                .collect()
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn tick_label(v: f64, log: bool) -> String {
    if log {
        format!("1e{}", v.log10().round() as i32)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn frame(out: &mut String, title: &str, x_label: &str, y_label: &str, y: &Axis) {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        LEFT + pw / 2.0,
        escape(title),
        LEFT + pw / 2.0,
        H - 8.0,
        escape(x_label),
        TOP + ph / 2.0,
        escape(y_label),
    );
    for t in y.ticks() {
        let py = TOP + ph * (1.0 - y.frac(t));
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            py + 4.0,
            tick_label(t, y.log)
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>"
    );
}

fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let x = W - RIGHT + 12.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{:.1}\">{}</text>",
            y - 10.0,
            PALETTE[i % PALETTE.len()],
            x + 18.0,
            y,
            escape(name)
        );
    }
}

/// A grouped bar chart: one group per category, one bar per series, y from 0 to `y_max`.
#[must_use]
pub fn bar_chart(
    title: &str,
    y_label: &str,
    y_max: f64,
    categories: &[String],
    series: &[(&str, Vec<f64>)],
) -> String {
    let mut out = String::new();
    let y = Axis {
        min: 0.0,
        max: y_max,
        log: false,
    };
    frame(&mut out, title, "", y_label, &y);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let group = pw / categories.len().max(1) as f64;
    let bar = group * 0.8 / series.len().max(1) as f64;
    for (c, name) in categories.iter().enumerate() {
        let gx = LEFT + group * c as f64 + group * 0.1;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0);
            let h = ph * y.frac(v);
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{}: {v:.3}</title></rect>",
                gx + bar * s as f64,
                TOP + ph - h,
                bar,
                PALETTE[s % PALETTE.len()],
                escape(name)
            );
        }
        let lx = gx + group * 0.4;
        let ly = TOP + ph + 10.0;
        let _ = writeln!(
            out,
            "<text transform=\"translate({lx:.1},{ly:.1}) rotate(45)\">{}</text>",
            escape(name)
        );
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

/// A line chart of `(x, y)` series, with an optional dashed vertical marker at `marker_x`.
#[must_use]
pub fn line_chart(
    title: &str,
    (x_label, x): (&str, Axis),
    (y_label, y): (&str, Axis),
    series: &[(&str, Vec<(f64, f64)>)],
    marker_x: Option<f64>,
) -> String {
    let mut out = String::new();
    frame(&mut out, title, x_label, y_label, &y);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    for t in x.ticks() {
        let px = LEFT + pw * x.frac(t);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#eee\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + ph,
            TOP + ph + 16.0,
            tick_label(t, x.log)
        );
    }
    if let Some(m) = marker_x {
        let px = LEFT + pw * x.frac(m);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#c00\" \
             stroke-dasharray=\"4 3\"/>",
            TOP + ph
        );
    }
    for (s, (_, points)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .map(|&(vx, vy)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + pw * x.frac(vx),
                    TOP + ph * (1.0 - y.frac(vy))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>",
            PALETTE[s % PALETTE.len()],
            pts.join(" ")
        );
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        let b = bar_chart(
            "t<1>",
            "y",
            1.0,
            &["a".into(), "b".into()],
            &[("s", vec![0.5, 1.0])],
        );
        assert!(b.starts_with("<svg") && b.ends_with("</svg>\n"));
        assert!(b.contains("t&lt;1&gt;"));
        assert_eq!(b.matches("<rect").count(), 2 + 2 + 1);
        let axis = Axis {
            min: 1e-3,
            max: 1.0,
            log: true,
        };
        let l = line_chart(
            "roc",
            ("x", axis),
            (
                "y",
                Axis {
                    min: 0.0,
                    max: 1.0,
                    log: false,
                },
            ),
            &[("s", vec![(0.0, 0.0), (1e-2, 0.5), (1.0, 1.0)])],
            Some(0.1),
        );
        assert_eq!(l.matches("<polyline").count(), 1);
        assert!(l.contains(">1e-3<"));
    }
}
