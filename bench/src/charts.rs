//! SVG charts of the results: a warm-latency CDF and throughput against clients.

use crate::phases::Results;
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 6] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// Cumulative distribution of warm invoke latency per runtime, with the floor.
pub fn latency_cdf(r: &Results, path: &Path) -> Result<()> {
    if r.warm_samples.is_empty() {
        return Ok(());
    }
    let x_max = r
        .warm_samples
        .iter()
        .map(|(_, s)| {
            let mut v = s.clone();
            v.sort_by(f64::total_cmp);
            crate::stats::quantile(&v, 0.995)
        })
        .fold(0.0f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Warm invoke latency (CDF, up to p99.5)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("fraction of requests")
        .draw()
        .map_err(err)?;
    for (i, (label, samples)) in r.warm_samples.iter().enumerate() {
        let mut v = samples.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .filter(|(_, x)| **x <= x_max)
            .map(|(k, x)| (*x, (k + 1) as f64 / n))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Requests per second against concurrent clients, Kumo next to the floor.
pub fn throughput(r: &Results, path: &Path) -> Result<()> {
    if r.throughput.is_empty() {
        return Ok(());
    }
    let mut targets: Vec<&str> = r.throughput.iter().map(|t| t.target.as_str()).collect();
    targets.dedup();
    targets.sort();
    targets.dedup();
    let y_max = r
        .throughput
        .iter()
        .map(|t| t.per_second)
        .fold(0.0, f64::max)
        * 1.15;
    let x_max = r.throughput.iter().map(|t| t.clients).max().unwrap_or(1) as f64;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput of no-op invokes", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0..x_max * 1.2).log_scale(), 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients")
        .y_desc("requests per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    for (i, target) in targets.iter().enumerate() {
        let color = COLORS[(i + 1) % COLORS.len()];
        let points: Vec<(f64, f64)> = r
            .throughput
            .iter()
            .filter(|t| t.target == *target)
            .map(|t| (t.clients as f64, t.per_second))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(target.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
