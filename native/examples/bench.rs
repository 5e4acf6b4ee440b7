//! `cargo run --release --example bench -- FILE.ndjson [MODE]`: µs per record of the
//! native build (MODE 0) or of its parts (1: JSON parse, 2: SHA-256, 3: escaping the
//! raw bytes) on newline-delimited records, without Python. Min of many short rounds.
use std::time::Instant;

use wafsiem_native::bench;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: bench FILE.ndjson [MODE]");
    let modes: Vec<u8> = match args.next() {
        Some(mode) => vec![mode.parse().expect("a mode number")],
        None => vec![0, 1, 2, 3],
    };
    let data = std::fs::read(path).expect("readable file");
    let lines: Vec<&[u8]> = data
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .take(1000)
        .collect();
    for mode in modes {
        let mut best = f64::MAX;
        for _ in 0..200 {
            let start = Instant::now();
            let mut accepted = 0;
            for line in &lines {
                accepted += usize::from(bench(line, mode));
            }
            assert_eq!(accepted, lines.len());
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "mode {mode}: {:.2} µs/record",
            best * 1e6 / lines.len() as f64
        );
    }
}
