//! The four chart kinds: line charts (loss curves, sorted code usage), bar charts (usage per
//! code), scatter plots (2-D projections coloured by group) and heatmaps (routing weights). Each
//! is a plain struct of data and labels; `render` draws it, `write_png` saves it.

use std::path::Path;

use super::axes::{Axes, draw_legend, padded_range};
use super::canvas::Canvas;
use super::font::text_width;
use super::{AXIS, BACKGROUND, PALETTE, PlotError, Rgb};

/// Default image size in pixels.
pub const DEFAULT_SIZE: [usize; 2] = [800, 500];

/// Something that draws itself on a canvas; `write_png` saves the drawing.
pub trait Chart {
    fn render(&self) -> Result<Canvas, PlotError>;

    /// Renders and writes the chart to `path` as PNG, atomically.
    fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        self.render()?.write_png(path)
    }
}

/// A named set of points; `color: None` takes the palette colour of its position.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: Option<Rgb>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points, color: None }
    }

    fn color_at(&self, index: usize) -> Rgb {
        self.color.unwrap_or(PALETTE[index % PALETTE.len()])
    }
}

fn check_size(size: [usize; 2]) -> Result<(), PlotError> {
    if size[0] < 200 || size[1] < 150 {
        return Err(PlotError::Invalid(format!("image size {size:?} is below the 200 x 150 minimum")));
    }
    Ok(())
}

fn series_range(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let points = || series.iter().flat_map(|s| s.points.iter());
    (padded_range(points().map(|p| p.0)), padded_range(points().map(|p| p.1)))
}

/// A blank canvas with the frame fitted to `series`; `labels`: title, x label, y label.
fn series_frame(size: [usize; 2], labels: [&String; 3], series: &[Series]) -> Result<(Canvas, Axes), PlotError> {
    check_size(size)?;
    let mut canvas = Canvas::new(size[0], size[1], BACKGROUND);
    let (x, y) = series_range(series);
    let axes = Axes::new(size[0], size[1], x, y);
    axes.draw_frame(&mut canvas, labels[0], labels[1], labels[2], true);
    Ok((canvas, axes))
}

fn legend(series: &[Series]) -> Vec<(String, Rgb)> {
    series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.label.is_empty())
        .map(|(i, s)| (s.label.clone(), s.color_at(i)))
        .collect()
}

/// Lines through each series' points, in order, with a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub size: [usize; 2],
}

impl Default for LineChart {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            size: DEFAULT_SIZE,
        }
    }
}

impl Chart for LineChart {
    fn render(&self) -> Result<Canvas, PlotError> {
        let labels = [&self.title, &self.x_label, &self.y_label];
        let (mut canvas, axes) = series_frame(self.size, labels, &self.series)?;
        for (i, s) in self.series.iter().enumerate() {
            let color = s.color_at(i);
            let pixels: Vec<(i64, i64)> = s.points.iter().map(|&(x, y)| (axes.px(x), axes.py(y))).collect();
            for pair in pixels.windows(2) {
                canvas.line(pair[0], pair[1], color);
                canvas.line((pair[0].0, pair[0].1 + 1), (pair[1].0, pair[1].1 + 1), color);
            }
            if let [only] = pixels.as_slice() {
                canvas.disc(only.0, only.1, 2, color);
            }
        }
        draw_legend(&mut canvas, &axes, &legend(&self.series));
        Ok(canvas)
    }
}

/// One bar per value from 0, labelled below by `labels` (or by index ticks when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub values: Vec<f64>,
    /// One per value, or empty.
    pub labels: Vec<String>,
    pub color: Rgb,
    pub size: [usize; 2],
}

impl Default for BarChart {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            values: Vec::new(),
            labels: Vec::new(),
            color: PALETTE[0],
            size: DEFAULT_SIZE,
        }
    }
}

impl Chart for BarChart {
    fn render(&self) -> Result<Canvas, PlotError> {
        check_size(self.size)?;
        if !self.labels.is_empty() && self.labels.len() != self.values.len() {
            let message = format!("{} labels for {} bars", self.labels.len(), self.values.len());
            return Err(PlotError::Invalid(message));
        }
        let mut canvas = Canvas::new(self.size[0], self.size[1], BACKGROUND);
        let n = self.values.len().max(1) as f64;
        let top = self.values.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
        let y = (0.0, if top > 0.0 { top * 1.05 } else { 1.0 });
        // Bar i spans [i, i + 1) in data units; index ticks mark the bars' left edges.
        let axes = Axes::new(self.size[0], self.size[1], (0.0, n), y);
        axes.draw_frame(&mut canvas, &self.title, &self.x_label, &self.y_label, self.labels.is_empty());
        for (i, &v) in self.values.iter().enumerate() {
            let (x0, x1) = (axes.px(i as f64), axes.px(i as f64 + 1.0));
            let gap = i64::from(x1 - x0 > 3);
            canvas.fill_rect(x0 + gap, axes.py(v.max(0.0)), x1 - gap, axes.py(0.0) - 1, self.color);
        }
        let (_, _, _, b) = axes.area;
        for (i, label) in self.labels.iter().enumerate() {
            let cx = (axes.px(i as f64) + axes.px(i as f64 + 1.0)) / 2;
            if text_width(label, 1) as i64 <= axes.px(1.0) - axes.px(0.0) {
                canvas.text_centered(cx, b + 8, label, 1, AXIS);
            }
        }
        Ok(canvas)
    }
}

/// Points of each series as small discs, with a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Disc radius in pixels.
    pub radius: usize,
    pub size: [usize; 2],
}

impl Default for ScatterPlot {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            radius: 1,
            size: DEFAULT_SIZE,
        }
    }
}

impl Chart for ScatterPlot {
    fn render(&self) -> Result<Canvas, PlotError> {
        let labels = [&self.title, &self.x_label, &self.y_label];
        let (mut canvas, axes) = series_frame(self.size, labels, &self.series)?;
        for (i, s) in self.series.iter().enumerate() {
            let color = s.color_at(i);
            for &(x, y) in &s.points {
                canvas.disc(axes.px(x), axes.py(y), self.radius as i64, color);
            }
        }
        draw_legend(&mut canvas, &axes, &legend(&self.series));
        Ok(canvas)
    }
}

/// A matrix as coloured cells (row 0 on top), dark blue (low) to yellow (high), with the value
/// range written under the title.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// `values[row][col]`; every row the same length.
    pub values: Vec<Vec<f64>>,
    pub size: [usize; 2],
}

impl Default for Heatmap {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            values: Vec::new(),
            size: DEFAULT_SIZE,
        }
    }
}

/// The colour of `t` in `[0, 1]` on a viridis-like ramp.
pub fn ramp(t: f64) -> Rgb {
    const STOPS: [Rgb; 5] = [Rgb(68, 1, 84), Rgb(59, 82, 139), Rgb(33, 145, 140), Rgb(94, 201, 98), Rgb(253, 231, 37)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Chart for Heatmap {
    fn render(&self) -> Result<Canvas, PlotError> {
        check_size(self.size)?;
        let cols = self.values.first().map_or(0, Vec::len);
        if self.values.is_empty() || cols == 0 {
            return Err(PlotError::Invalid("a heatmap needs at least one cell".into()));
        }
        if let Some(row) = self.values.iter().position(|r| r.len() != cols) {
            return Err(PlotError::Invalid(format!(
                "row {row} has {} cells, row 0 has {cols}",
                self.values[row].len()
            )));
        }
        let rows = self.values.len();
        let (min, max) = {
            let finite = || self.values.iter().flatten().copied().filter(|v| v.is_finite());
            (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max))
        };
        let mut canvas = Canvas::new(self.size[0], self.size[1], BACKGROUND);
        // Data units: columns 0..cols on x, rows on y with row 0 at the top.
        let axes = Axes::new(self.size[0], self.size[1], (0.0, cols as f64), (0.0, rows as f64));
        let span = if max > min { max - min } else { 1.0 };
        for (r, row) in self.values.iter().enumerate() {
            let (y0, y1) = (axes.py((rows - r) as f64), axes.py((rows - r - 1) as f64));
            for (c, &v) in row.iter().enumerate() {
                let (x0, x1) = (axes.px(c as f64), axes.px(c as f64 + 1.0));
                canvas.fill_rect(x0, y0, x1 - 1, y1 - 1, ramp((v - min) / span));
            }
        }
        let (l, t, r, b) = axes.area;
        canvas.text_centered((l + r) / 2, 12, &self.title, 2, AXIS);
        canvas.text_centered((l + r) / 2, canvas.height as i64 - 15, &self.x_label, 1, AXIS);
        canvas.text_vertical(8, (t + b) / 2, &self.y_label, 1, AXIS);
        for (c, label) in [(0, "0".to_string()), (cols - 1, (cols - 1).to_string())] {
            canvas.text_centered((axes.px(c as f64) + axes.px(c as f64 + 1.0)) / 2, b + 6, &label, 1, AXIS);
        }
        for (row, label) in [(0, "0".to_string()), (rows - 1, (rows - 1).to_string())] {
            let cy = (axes.py((rows - row) as f64) + axes.py((rows - row - 1) as f64)) / 2;
            canvas.text(l - 6 - text_width(&label, 1) as i64, cy - 3, &label, 1, AXIS);
        }
        let range = format!("MIN {min:.3}  MAX {max:.3}");
        canvas.text(r - text_width(&range, 1) as i64, t - 10, &range, 1, AXIS);
        Ok(canvas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_colour_is_where_the_bar_is() {
        // Two bars 1 and 2 on y = 0..2.1: bar 1 (the taller) covers its column's middle just
        // above the x axis, and the area above bar 0's top stays background.
        let red = Rgb(200, 0, 0);
        let chart = BarChart { title: "T".into(), values: vec![1.0, 2.0], color: red, ..Default::default() };
        let canvas = chart.render().unwrap();
        assert_eq!((canvas.width, canvas.height), (800, 500));
        let axes = Axes::new(800, 500, (0.0, 2.0), (0.0, 2.1));
        let x1 = ((axes.px(1.0) + axes.px(2.0)) / 2) as usize;
        assert_eq!(canvas.pixel(x1, (axes.py(0.0) - 2) as usize), Some(red));
        assert_eq!(canvas.pixel(x1, (axes.py(1.9)) as usize), Some(red));
        let x0 = ((axes.px(0.0) + axes.px(1.0)) / 2) as usize;
        assert_ne!(canvas.pixel(x0, axes.py(1.5) as usize), Some(red));
    }

    #[test]
    fn line_scatter_and_heatmap_render_and_save() {
        let dir = tempfile::tempdir().unwrap();
        let line = LineChart {
            title: "Loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![Series::new("train", vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)])],
            ..Default::default()
        };
        let path = dir.path().join("line.png");
        line.write_png(&path).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
        // The first point (0, 1) maps to the plot's top-left region, in the palette's first colour.
        let canvas = line.render().unwrap();
        let axes = Axes::new(800, 500, padded_range([0.0, 1.0, 2.0]), padded_range([1.0, 0.5, 0.25]));
        assert_eq!(canvas.pixel(axes.px(0.0) as usize, axes.py(1.0) as usize), Some(PALETTE[0]));

        let scatter = ScatterPlot {
            series: vec![Series::new("a", vec![(0.0, 1.0)]), Series::new("b", vec![(1.0, 0.0)])],
            radius: 2,
            ..Default::default()
        };
        let canvas = scatter.render().unwrap();
        let axes = Axes::new(800, 500, padded_range([0.0, 1.0]), padded_range([0.0, 1.0]));
        // Series "b" (palette colour 1) at (1, 0): the bottom-right corner, clear of the legend.
        assert_eq!(canvas.pixel(axes.px(1.0) as usize, axes.py(0.0) as usize), Some(PALETTE[1]));

        let heat = Heatmap { values: vec![vec![0.0, 1.0], vec![1.0, 0.0]], ..Default::default() };
        let canvas = heat.render().unwrap();
        let axes = Axes::new(800, 500, (0.0, 2.0), (0.0, 2.0));
        // Cell (row 0, col 1) = the maximum -> yellow; cell (0, 0) the minimum -> dark purple.
        let (cy, cx1, cx0) = (axes.py(1.5) as usize, axes.px(1.5) as usize, axes.px(0.5) as usize);
        assert_eq!(canvas.pixel(cx1, cy), Some(ramp(1.0)));
        assert_eq!(canvas.pixel(cx0, cy), Some(ramp(0.0)));
        assert!(Heatmap::default().render().is_err());
        let ragged = Heatmap { values: vec![vec![0.0], vec![]], ..Default::default() };
        assert!(ragged.render().unwrap_err().to_string().contains("row 1"));
    }
}
