//! Charts as PNG, with no plotting dependency: a pixel [`Canvas`] with a tiny embedded bitmap
//! font, and four chart kinds built on one shared frame and the [`Chart`] trait ([`LineChart`], [`BarChart`],
//! [`ScatterPlot`], [`Heatmap`]). Used for the item tokenizer's code-usage and latent plots
//! (RecBase Figures 2 and 5c), and meant for loss curves and routing heatmaps too.
//!
//! ```no_run
//! use recfound::plot::{Chart, LineChart, Series};
//! let chart = LineChart {
//!     title: "Training loss".into(),
//!     x_label: "epoch".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series::new("train", vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.4)])],
//!     ..Default::default()
//! };
//! chart.write_png(std::path::Path::new("loss.png")).unwrap();
//! ```

pub mod axes;
pub mod canvas;
pub mod charts;
pub mod font;

use std::path::PathBuf;

pub use canvas::Canvas;
pub use charts::{BarChart, Chart, DEFAULT_SIZE, Heatmap, LineChart, ScatterPlot, Series, ramp};

/// An 8-bit RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Series colours in order (matplotlib's "tab10").
pub const PALETTE: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];
pub const BACKGROUND: Rgb = Rgb(255, 255, 255);
pub const AXIS: Rgb = Rgb(40, 40, 40);
pub const GRID: Rgb = Rgb(228, 228, 228);

/// What can go wrong drawing or saving a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("invalid chart: {0}")]
    Invalid(String),
    #[error("encoding PNG: {0}")]
    Encode(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
