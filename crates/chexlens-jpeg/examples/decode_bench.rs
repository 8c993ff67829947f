//! Decode time of each file given, for tools/bench/jpeg-bench: every file
//! decoded `--runs` times after one warm-up; prints one JSON object per
//! file with its median and fastest time in milliseconds.
//!
//!   cargo run --release -p chexlens-jpeg --example decode_bench -- --runs 9 FILE...

use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 9usize;
    if let Some(at) = args.iter().position(|a| a == "--runs") {
        runs = args.get(at + 1).and_then(|n| n.parse().ok()).expect("--runs N");
        args.drain(at..at + 2);
    }
    for path in args {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let decode = || chexlens_jpeg::dct::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let image = decode();
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(decode());
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"file\": {path:?}, \"width\": {}, \"height\": {}, \"median_ms\": {:.3}, \"min_ms\": {:.3}}}",
            image.width,
            image.height,
            times[runs / 2],
            times[0]
        );
    }
}
