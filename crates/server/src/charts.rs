//! Charts as inline SVG, drawn on the server: no script, nothing fetched, printable, and
//! allowed by a Content-Security-Policy without inline scripts or styles (colours come from
//! classes in the stylesheet). Every bar carries a `<title>` with its exact value; the table
//! beside each chart carries the same numbers for screen readers and copying.

use maud::{Markup, html};

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// Drawn in the accent colour (e.g. outside working hours).
    pub highlight: bool,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: u64) -> Bar {
        Bar { label: label.into(), value, highlight: false }
    }
}

/// A "nice" axis maximum at or above `max` (1, 2 or 5 times a power of ten).
fn axis_max(max: u64) -> u64 {
    let max = max.max(1);
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let candidate = step.saturating_mul(factor);
            if candidate >= max {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Thousands separated with a thin space, as in printed reports.
pub fn number(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// Vertical bars over an ordered axis (days, hours): for time series.
pub fn columns(caption: &str, bars: &[Bar]) -> Markup {
    const WIDTH: f64 = 720.0;
    const HEIGHT: f64 = 220.0;
    const LEFT: f64 = 56.0;
    const BOTTOM: f64 = 36.0;
    const TOP: f64 = 10.0;
    let plot_width = WIDTH - LEFT - 8.0;
    let plot_height = HEIGHT - BOTTOM - TOP;
    let max = axis_max(bars.iter().map(|b| b.value).max().unwrap_or(0));
    let slot = plot_width / bars.len().max(1) as f64;
    let gap = if slot > 6.0 { slot * 0.15 } else { 0.0 };
    // At most about 12 labels on the axis.
    let label_every = bars.len().div_ceil(12).max(1);
    let y = |value: u64| TOP + plot_height - (value as f64 / max as f64) * plot_height;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(caption)
                preserveAspectRatio="xMidYMid meet" {
                @for fraction in [0u64, 1, 2] {
                    @let value = max * fraction / 2;
                    line.grid x1=(LEFT) x2=(WIDTH - 8.0) y1=(y(value)) y2=(y(value)) {}
                    text.axis-label x=(LEFT - 6.0) y=(y(value) + 4.0) text-anchor="end" {
                        (number(value))
                    }
                }
                @for (i, bar) in bars.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + gap / 2.0;
                    @let top = y(bar.value);
                    rect class=(if bar.highlight { "bar highlight" } else { "bar" })
                        x=(format!("{x:.1}")) y=(format!("{top:.1}"))
                        width=(format!("{:.1}", (slot - gap).max(0.5)))
                        height=(format!("{:.1}", (TOP + plot_height - top).max(0.0))) {
                        title { (bar.label) ": " (number(bar.value)) }
                    }
                    @if i % label_every == 0 {
                        text.axis-label x=(format!("{:.1}", x + (slot - gap) / 2.0))
                            y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" {
                            (short_label(&bar.label))
                        }
                    }
                }
                line.axis x1=(LEFT) x2=(WIDTH - 8.0) y1=(TOP + plot_height) y2=(TOP + plot_height) {}
            }
            figcaption { (caption) }
        }
    }
}

/// Days print as `06-02`; anything else as it is, cut to 10 characters.
fn short_label(label: &str) -> String {
    if label.len() == 10 && label.as_bytes()[4] == b'-' {
        return label[5..].to_string();
    }
    label.chars().take(10).collect()
}

/// Horizontal bars with labels: for rankings (top users, entities, categories).
pub fn ranking(caption: &str, bars: &[Bar]) -> Markup {
    const WIDTH: f64 = 720.0;
    const ROW: f64 = 22.0;
    const LABEL: f64 = 260.0;
    const VALUE: f64 = 70.0;
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let plot = WIDTH - LABEL - VALUE;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(caption) {
                @for (i, bar) in bars.iter().enumerate() {
                    @let y = 4.0 + i as f64 * ROW;
                    @let length = (bar.value as f64 / max as f64) * plot;
                    text.bar-label x=(LABEL - 8.0) y=(y + 15.0) text-anchor="end" {
                        (truncate(&bar.label, 40))
                    }
                    rect class=(if bar.highlight { "bar highlight" } else { "bar" })
                        x=(LABEL) y=(y + 3.0) width=(format!("{:.1}", length.max(1.0)))
                        height=(ROW - 6.0) {
                        title { (bar.label) ": " (number(bar.value)) }
                    }
                    text.axis-label x=(format!("{:.1}", LABEL + length.max(1.0) + 6.0)) y=(y + 15.0) {
                        (number(bar.value))
                    }
                }
            }
            figcaption { (caption) }
        }
    }
}

/// Cuts text to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(axis_max(0), 1);
        assert_eq!(axis_max(7), 10);
        assert_eq!(axis_max(11), 20);
        assert_eq!(axis_max(40_001), 50_000);
    }

    #[test]
    fn charts_are_svg_with_exact_values_and_escaped_labels() {
        let bars =
            vec![Bar::new("2026-06-01", 1234), Bar { highlight: true, ..Bar::new("<b>", 5) }];
        let svg = columns("Activity per day", &bars).into_string();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("2026-06-01: 1\u{202f}234"), "{svg}");
        assert!(svg.contains("bar highlight"));
        assert!(svg.contains("&lt;b&gt;"), "labels are escaped: {svg}");
        assert!(!svg.contains("style="), "no inline styles (CSP)");
        let svg = ranking("Top users", &bars).into_string();
        assert!(svg.contains("&lt;b&gt;: 5"), "{svg}");
    }

    #[test]
    fn numbers_group_thousands() {
        assert_eq!(number(0), "0");
        assert_eq!(number(1_234_567), "1\u{202f}234\u{202f}567");
    }
}
