//! Each label's ROC curve and reliability diagram as SVG text: the CLI's
//! `--plots` files and the page's figures are the same drawing.

use super::LabelReport;
use std::fmt::Write;

const SIZE: f64 = 360.0;
const MARGIN: f64 = 48.0;

/// A square plot of the unit square with axes, a diagonal and a title.
fn frame(title: &str, x_label: &str, y_label: &str) -> String {
    let (m, s) = (MARGIN, SIZE);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{w}\" viewBox=\"0 0 {w} {w}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{w}\" height=\"{w}\" fill=\"white\"/>\n\
         <text x=\"{c}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\n\
         <rect x=\"{m}\" y=\"{m}\" width=\"{s}\" height=\"{s}\" fill=\"none\" stroke=\"#333\"/>\n\
         <line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{m}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\n\
         <text x=\"{c}\" y=\"{xl}\" text-anchor=\"middle\">{x_label}</text>\n\
         <text x=\"14\" y=\"{c}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {c})\">{y_label}</text>\n",
        w = s + 2.0 * m,
        c = m + s / 2.0,
        b = m + s,
        r = m + s,
        xl = s + 2.0 * m - 12.0,
        title = escape(title),
    );
    for tick in 0..=4 {
        let v = tick as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{v}</text><text x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\">{v}</text>",
            x = m + v * s,
            y = m + s + 16.0,
            lx = m - 6.0,
            ly = m + (1.0 - v) * s + 4.0,
        );
    }
    svg
}

fn point(x: f64, y: f64) -> String {
    format!("{:.2},{:.2}", MARGIN + x * SIZE, MARGIN + (1.0 - y) * SIZE)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The ROC curve with its AUROC and the operating point at the threshold.
pub fn roc_svg(report: &LabelReport) -> String {
    let auc = report.auroc.map_or("AUROC n/a".to_string(), |a| {
        format!("AUROC {:.3} ({:.3}-{:.3})", a.value, a.ci95.0, a.ci95.1)
    });
    let mut svg = frame(&format!("{}: {auc}", report.label), "1 - specificity", "sensitivity");
    let points: Vec<String> = report
        .roc
        .iter()
        .filter(|p| p.false_positive_rate.is_finite() && p.true_positive_rate.is_finite())
        .map(|p| point(p.false_positive_rate, p.true_positive_rate))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\"/>",
        points.join(" ")
    );
    let op = &report.operating_point;
    if let (Some(sens), Some(spec)) = (op.sensitivity, op.specificity) {
        let (x, y) = (MARGIN + (1.0 - spec) * SIZE, MARGIN + (1.0 - sens) * SIZE);
        let _ = writeln!(
            svg,
            "<circle cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"4\" fill=\"#2c3e50\"><title>threshold {:.3}</title></circle>",
            op.threshold
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The reliability diagram (fraction positive per probability bin) with its ECE.
pub fn reliability_svg(report: &LabelReport) -> String {
    let ece = report
        .calibration
        .as_ref()
        .map_or("n/a".to_string(), |c| format!("{:.3}", c.expected_calibration_error));
    let mut svg = frame(
        &format!("{}: ECE {ece}", report.label),
        "mean predicted probability",
        "fraction positive",
    );
    for bin in report.calibration.iter().flat_map(|c| &c.bins) {
        let (x0, x1) = (MARGIN + bin.range.0 * SIZE, MARGIN + bin.range.1 * SIZE);
        let top = MARGIN + (1.0 - bin.fraction_positive) * SIZE;
        let _ = writeln!(
            svg,
            "<rect x=\"{x0:.2}\" y=\"{top:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"#2980b9\" fill-opacity=\"0.6\"><title>{} images, mean {:.3}, positive {:.3}</title></rect>",
            x1 - x0,
            MARGIN + SIZE - top,
            bin.count,
            bin.mean_probability,
            bin.fraction_positive
        );
    }
    svg.push_str("</svg>\n");
    svg
}
