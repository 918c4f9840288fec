//! The frame every chart shares: the plot area inside fixed margins, the mapping from data to
//! pixels, "nice" tick values (1, 2 or 5 times a power of ten), axis lines, ticks, tick labels,
//! the title and the two axis labels.

use super::canvas::{Canvas, text_height};
use super::font::text_width;
use super::{AXIS, GRID, Rgb};

/// Margins in pixels: left (room for tick labels and the y label), right, top, bottom.
const LEFT: usize = 78;
const RIGHT: usize = 24;
const TOP: usize = 40;
const BOTTOM: usize = 52;

/// A data range mapped onto the plot area of a canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axes {
    pub x: (f64, f64),
    pub y: (f64, f64),
    /// Plot area in pixels, inclusive: left, top, right, bottom.
    pub area: (i64, i64, i64, i64),
}

impl Axes {
    /// The plot area of a `width` x `height` canvas showing `x` and `y`.
    pub fn new(width: usize, height: usize, x: (f64, f64), y: (f64, f64)) -> Self {
        let area = (LEFT as i64, TOP as i64, (width - RIGHT) as i64 - 1, (height - BOTTOM) as i64 - 1);
        Self { x, y, area }
    }

    /// Pixel column of data `x`.
    pub fn px(&self, x: f64) -> i64 {
        let (l, _, r, _) = self.area;
        l + ((x - self.x.0) / (self.x.1 - self.x.0) * (r - l) as f64).round() as i64
    }

    /// Pixel row of data `y` (up is larger).
    pub fn py(&self, y: f64) -> i64 {
        let (_, t, _, b) = self.area;
        b - ((y - self.y.0) / (self.y.1 - self.y.0) * (b - t) as f64).round() as i64
    }

    /// Title, axis labels, axis lines, light grid lines and tick labels (x ticks only when
    /// `x_ticks`, for charts that label their columns themselves).
    pub fn draw_frame(&self, canvas: &mut Canvas, title: &str, x_label: &str, y_label: &str, x_ticks: bool) {
        let (l, t, r, b) = self.area;
        canvas.text_centered((l + r) / 2, 12, title, 2, AXIS);
        canvas.text_centered((l + r) / 2, canvas.height as i64 - text_height(1) as i64 - 8, x_label, 1, AXIS);
        canvas.text_vertical(8, (t + b) / 2, y_label, 1, AXIS);
        for v in nice_ticks(self.y.0, self.y.1, 6) {
            let y = self.py(v);
            canvas.line((l + 1, y), (r, y), GRID);
            canvas.line((l - 4, y), (l, y), AXIS);
            let label = format_tick(v, tick_step(self.y.0, self.y.1, 6));
            canvas.text(l - 6 - text_width(&label, 1) as i64, y - 3, &label, 1, AXIS);
        }
        if x_ticks {
            for v in nice_ticks(self.x.0, self.x.1, 8) {
                let x = self.px(v);
                canvas.line((x, b), (x, b + 4), AXIS);
                canvas.text_centered(x, b + 8, &format_tick(v, tick_step(self.x.0, self.x.1, 8)), 1, AXIS);
            }
        }
        canvas.line((l, t), (l, b), AXIS);
        canvas.line((l, b), (r, b), AXIS);
    }
}

/// A legend in the plot area's top-right corner: a colour swatch and a label per entry.
pub fn draw_legend(canvas: &mut Canvas, axes: &Axes, entries: &[(String, Rgb)]) {
    let (_, t, r, _) = axes.area;
    let widest = entries.iter().map(|(label, _)| text_width(label, 1)).max().unwrap_or(0) as i64;
    let left = r - widest - 24;
    if !entries.is_empty() {
        let bottom = t + 6 + 12 * entries.len() as i64;
        canvas.fill_rect(left - 4, t + 2, r - 2, bottom, super::BACKGROUND);
    }
    for (i, (label, color)) in entries.iter().enumerate() {
        let y = t + 6 + 12 * i as i64;
        canvas.fill_rect(left, y, left + 8, y + 6, *color);
        canvas.text(left + 14, y, label, 1, AXIS);
    }
}

/// `lo..hi` widened by 5% on each side (a degenerate range becomes `v - 1 .. v + 1`; no values
/// give `0..1`).
pub fn padded_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// The tick spacing for about `target` ticks over `lo..hi`: 1, 2 or 5 times a power of ten.
pub fn tick_step(lo: f64, hi: f64, target: usize) -> f64 {
    let raw = (hi - lo).abs() / target.max(1) as f64;
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| m * magnitude >= raw).unwrap_or(10.0);
    step * magnitude
}

/// The multiples of [`tick_step`] inside `lo..=hi`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let step = tick_step(lo, hi, target);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick value with as many decimals as its step needs.
pub fn format_tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        // Range 0..1 with ~5 ticks: raw step 0.2 -> 0.2; ticks 0, 0.2, ..., 1.
        assert_eq!(tick_step(0.0, 1.0, 5), 0.2);
        assert_eq!(nice_ticks(0.0, 1.0, 5).len(), 6);
        // 0..730 with ~8: raw 91.25 -> 100.
        assert_eq!(tick_step(0.0, 730.0, 8), 100.0);
        assert_eq!(format_tick(0.4, 0.2), "0.4");
        assert_eq!(format_tick(300.0, 100.0), "300");
        assert_eq!(padded_range([2.0, 2.0]), (1.0, 3.0));
        assert_eq!(padded_range([]), (0.0, 1.0));
    }

    #[test]
    fn data_maps_onto_the_area() {
        let axes = Axes::new(800, 500, (0.0, 10.0), (0.0, 1.0));
        let (l, t, r, b) = axes.area;
        assert_eq!((axes.px(0.0), axes.px(10.0)), (l, r));
        assert_eq!((axes.py(0.0), axes.py(1.0)), (b, t));
    }
}
