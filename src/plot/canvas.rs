//! An RGB pixel buffer with the few drawing primitives the charts need (rectangles, lines,
//! discs, text in the embedded font, horizontal or turned a quarter left) and PNG output through
//! the `png` crate, written atomically.

use std::path::Path;

use super::font::{GLYPH_H, GLYPH_W, glyph, text_width};
use super::{PlotError, Rgb};

/// A `width` x `height` RGB image, row-major, origin top left.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        let pixels = [background.0, background.1, background.2].repeat(width * height);
        Self { width, height, pixels }
    }

    /// The colour at `(x, y)`; `None` outside the canvas.
    pub fn pixel(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| {
            let i = 3 * (y * self.width + x);
            Rgb(self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
        })
    }

    /// Sets `(x, y)`; points outside the canvas are ignored.
    pub fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = 3 * (y as usize * self.width + x as usize);
            self.pixels[i..i + 3].copy_from_slice(&[color.0, color.1, color.2]);
        }
    }

    /// Fills the rectangle `[x0, x1] x [y0, y1]` (inclusive, in any order), clipped.
    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb) {
        let (xa, xb) = (x0.min(x1).max(0), x0.max(x1).min(self.width as i64 - 1));
        let (ya, yb) = (y0.min(y1).max(0), y0.max(y1).min(self.height as i64 - 1));
        for y in ya..=yb {
            for x in xa..=xb {
                self.set(x, y, color);
            }
        }
    }

    /// A one-pixel line from `(x0, y0)` to `(x1, y1)` (Bresenham), clipped.
    pub fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), color: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            self.set(x0, y0, color);
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }

    /// A filled disc of `radius` around `(cx, cy)`.
    pub fn disc(&mut self, cx: i64, cy: i64, radius: i64, color: Rgb) {
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if dx * dx + dy * dy <= radius * radius {
                    self.set(cx + dx, cy + dy, color);
                }
            }
        }
    }

    /// `text` with its top-left corner at `(x, y)`, each font pixel a `scale` x `scale` block.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        for (i, c) in text.chars().enumerate() {
            let left = x + (i * (GLYPH_W + 1)) as i64 * s;
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits >> (GLYPH_W - 1 - col) & 1 == 1 {
                        let (px, py) = (left + col as i64 * s, y + row as i64 * s);
                        self.fill_rect(px, py, px + s - 1, py + s - 1, color);
                    }
                }
            }
        }
    }

    /// `text` centred horizontally on `cx`, top at `y`.
    pub fn text_centered(&mut self, cx: i64, y: i64, text: &str, scale: usize, color: Rgb) {
        self.text(cx - text_width(text, scale) as i64 / 2, y, text, scale, color);
    }

    /// `text` turned a quarter left (reading bottom to top), centred vertically on `cy`, its
    /// left edge (the glyphs' top) at `x`.
    pub fn text_vertical(&mut self, x: i64, cy: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        let bottom = cy + text_width(text, scale) as i64 / 2;
        for (i, c) in text.chars().enumerate() {
            let base = bottom - (i * (GLYPH_W + 1)) as i64 * s;
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits >> (GLYPH_W - 1 - col) & 1 == 1 {
                        // Glyph column -> up, glyph row -> right.
                        let (px, py) = (x + row as i64 * s, base - col as i64 * s);
                        self.fill_rect(px, py - s + 1, px + s - 1, py, color);
                    }
                }
            }
        }
    }

    /// The image as PNG bytes (8-bit RGB).
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(|e| PlotError::Encode(e.to_string()))?;
            writer.write_image_data(&self.pixels).map_err(|e| PlotError::Encode(e.to_string()))?;
        }
        Ok(bytes)
    }

    /// Writes the image to `path` as PNG, atomically.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let bytes = self.to_png()?;
        crate::io::write_atomic(path, &bytes).map_err(|source| PlotError::Io { path: path.to_path_buf(), source })
    }
}

/// Height in pixels of one line of text at `scale`.
pub fn text_height(scale: usize) -> usize {
    GLYPH_H * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb = Rgb(255, 255, 255);
    const RED: Rgb = Rgb(255, 0, 0);

    #[test]
    fn primitives_hit_the_expected_pixels() {
        let mut c = Canvas::new(20, 10, WHITE);
        c.fill_rect(2, 3, 4, 5, RED);
        assert_eq!(c.pixel(3, 4), Some(RED));
        assert_eq!(c.pixel(5, 4), Some(WHITE));
        c.line((0, 0), (9, 9), RED);
        assert_eq!(c.pixel(7, 7), Some(RED));
        assert_eq!(c.pixel(20, 0), None);
        // '1' at (10, 0), scale 1: its stem is column 2 -> x = 12 on row 3.
        c.text(10, 0, "1", 1, RED);
        assert_eq!(c.pixel(12, 3), Some(RED));
        assert_eq!(c.pixel(10, 3), Some(WHITE));
    }

    #[test]
    fn png_has_the_canvas_dimensions() {
        let c = Canvas::new(7, 3, WHITE);
        let bytes = c.to_png().unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (7, 3));
    }
}
