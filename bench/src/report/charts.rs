//! The charts, drawn by `plotters` into SVG strings that pages inline, so a report needs no
//! script and no network to show them.

use brokerbench_common::settings::Middleware;
use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 340;

/// The x axis of a percentile chart runs from 0 % to 99.999 %: `1/(1-q)` on a log scale, so each
/// further "nine" gets the same room.
const PERCENTILE_X_MAX: f64 = 1e5;

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// The colour of a path, the same on every chart of every page.
pub fn path_color(m: Middleware) -> RGBColor {
    let (r, g, b) = m.descriptor().colour;
    RGBColor(r, g, b)
}

/// A distinct colour for the i-th run, series or repeat.
pub fn nth_color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    PALETTE[i % PALETTE.len()]
}

/// The percentile curve of a histogram in µs: (1/(1-q), latency in ms) points.
pub fn percentile_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for v in h.iter_quantiles(5) {
        let q: f64 = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            PERCENTILE_X_MAX
        } else {
            (1.0 / (1.0 - q)).min(PERCENTILE_X_MAX)
        };
        points.push((x, v.value_iterated_to() as f64 / 1000.0));
        if x >= PERCENTILE_X_MAX {
            break;
        }
    }
    if let Some(&(x, _)) = points.last()
        && x < PERCENTILE_X_MAX
    {
        points.push((PERCENTILE_X_MAX, h.max() as f64 / 1000.0));
    }
    points
}

fn percentile_label(x: f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x);
    let nines = x.log10().round() as usize;
    if nines <= 1 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.prec$}%", prec = nines - 2)
    }
}

/// Latency against percentile, all `lines` overlaid (HdrHistogram's percentile plot).
pub fn percentile_chart(title: &str, lines: &[Line]) -> anyhow::Result<String> {
    let y_max = upper(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let keys = vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5];
        let mut chart = frame(&root, title).build_cartesian_2d(
            (1f64..PERCENTILE_X_MAX).log_scale().with_key_points(keys),
            0f64..y_max,
        )?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .x_desc("percentile (log scale of 1/(1−q))")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| format_axis(*y))
            .draw()?;
        draw_lines(&mut chart, lines)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
    }
    Ok(svg)
}

/// A plain line chart with linear axes; each of `bands` (from, to on the x axis) is shaded
/// behind the lines (the faults of a run).
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    bands: &[(f64, f64)],
) -> anyhow::Result<String> {
    let xs = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let x_min = xs().fold(f64::INFINITY, f64::min);
    let x_max = xs().fold(f64::NEG_INFINITY, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min, x_max)
    } else {
        (0.0, 1.0)
    };
    let y_max = upper(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = frame(&root, title).build_cartesian_2d(x_min..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|x| format_axis(*x))
            .y_label_formatter(&|y| format_axis(*y))
            .draw()?;
        for &(from, to) in bands {
            let (from, to) = (from.clamp(x_min, x_max), to.clamp(x_min, x_max));
            chart.draw_series(std::iter::once(Rectangle::new(
                [(from, 0.0), (to.max(from), y_max)],
                RGBColor(240, 60, 60).mix(0.15).filled(),
            )))?;
        }
        draw_lines(&mut chart, lines)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
    }
    Ok(svg)
}

/// A pie of labelled shares (the seed's cases page drew the infected types and states so); each
/// wedge is labelled with its name and percentage.
pub fn pie_chart(title: &str, slices: &[(String, f64)]) -> anyhow::Result<String> {
    let sizes: Vec<f64> = slices.iter().map(|s| s.1).collect();
    let labels: Vec<&str> = slices.iter().map(|s| s.0.as_str()).collect();
    let colors: Vec<RGBColor> = (0..slices.len()).map(nth_color).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 16))?;
        let (w, h) = root.dim_in_pixel();
        let center = (i32::try_from(w / 2)?, i32::try_from(h / 2)?);
        let radius = f64::from(w.min(h)) * 0.36;
        if sizes.iter().sum::<f64>() > 0.0 {
            let mut pie = Pie::new(&center, &radius, &sizes, &colors, &labels);
            pie.start_angle(-90.0);
            pie.label_style(("sans-serif", 14).into_font().color(&BLACK));
            pie.percentages(("sans-serif", 13).into_font().color(&WHITE));
            root.draw(&pie)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Vertical bars, one per labelled value.
pub fn bar_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    bars: &[(String, f64)],
) -> anyhow::Result<String> {
    let y_max = upper(bars.iter().map(|b| b.1));
    let count = bars.len().max(1);
    // A segmented range `0..n` has n + 1 slots; the last would stay empty.
    let slots = if count > 1 { 0..count - 1 } else { 0..count };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart =
            frame(&root, title).build_cartesian_2d(slots.into_segmented(), 0f64..y_max)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(count)
            .x_label_formatter(&label)
            .y_label_formatter(&|y| format_axis(*y))
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(nth_color(0).filled())
                .margin(6)
                .data(bars.iter().enumerate().map(|(i, b)| (i, b.1))),
        )?;
        root.present()?;
    }
    Ok(svg)
}

/// The caption, margins and label areas every chart shares.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .margin_right(34)
        .x_label_area_size(46)
        .y_label_area_size(66);
    builder
}

type Chart<'a, X> =
    ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>;

fn draw_lines<X>(chart: &mut Chart<'_, X>, lines: &[Line]) -> anyhow::Result<()>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    Ok(())
}

fn legend<X>(chart: &mut Chart<'_, X>, position: SeriesLabelPosition) -> anyhow::Result<()>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// Top of a y axis: 10 % above the largest value, never empty.
fn upper(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// Axis numbers: no more digits than the scale needs.
fn format_axis(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        let labels: Vec<String> = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
            .iter()
            .map(|x| percentile_label(*x))
            .collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn curve_reaches_the_last_percentile() {
        let mut h = brokerbench_common::metrics::new_histogram();
        for v in 1..=1000 {
            h.record(v * 10).expect("in range");
        }
        let points = percentile_points(&h);
        assert_eq!(points.first().map(|p| p.0), Some(1.0));
        assert_eq!(points.last().map(|p| p.0), Some(PERCENTILE_X_MAX));
        assert!(
            points.windows(2).all(|w| w[0].1 <= w[1].1),
            "latency never falls with the percentile"
        );
    }
}
