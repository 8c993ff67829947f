//! The decoder against Pillow (libjpeg-turbo) on a corpus of over 300
//! sound and 50 damaged files: every sample of every file equal, and each
//! damaged file's damage named as libjpeg-turbo names it. The corpus, its
//! decodings and djpeg's warnings come from tools/reference/jpeg_corpus.py.

use chexlens_jpeg::dct::{self as jpeg, Damage};
use serde_json::Value;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn expected_planes(name: &str) -> Vec<Vec<u8>> {
    match image::open(corpus().join(name)).unwrap() {
        image::DynamicImage::ImageLuma8(p) => vec![p.as_raw().clone()],
        image::DynamicImage::ImageRgb8(p) => (0..3)
            .map(|c| p.as_raw().chunks_exact(3).map(|px| px[c]).collect())
            .collect(),
        other => panic!("{name}: unexpected {:?}", other.color()),
    }
}

/// The kind of a libjpeg-turbo warning, with the numbers that depend on
/// how far its data source had read left out.
fn kind_of(warning: &str) -> &'static str {
    if warning.contains("premature end of data segment") {
        "premature end"
    } else if warning.contains("bad Huffman code") {
        "bad Huffman code"
    } else if warning.contains("bad arithmetic code") {
        "bad arithmetic code"
    } else if warning.contains("instead of RST") {
        "wrong restart"
    } else if warning.contains("extraneous bytes before marker") {
        "extraneous"
    } else {
        panic!("a warning the test does not know: {warning}")
    }
}

fn kind_of_damage(damage: &Damage) -> &'static str {
    match damage {
        Damage::PrematureEnd => "premature end",
        Damage::BadHuffmanCode => "bad Huffman code",
        Damage::BadArithmeticCode => "bad arithmetic code",
        Damage::WrongRestart { .. } => "wrong restart",
        Damage::Extraneous { .. } => "extraneous",
    }
}

#[test]
fn every_sample_of_every_file_equals_pillow_and_damage_is_named() {
    let index: Value = serde_json::from_str(&std::fs::read_to_string(corpus().join("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert!(cases.len() >= 200, "{} files", cases.len());
    let mut failures = Vec::new();
    let (mut damaged, mut arithmetic) = (0, 0);
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let what = case["what"].as_str().unwrap();
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        arithmetic += what.contains("arithmetic") as usize;
        let decoded = match jpeg::decode(&bytes) {
            Ok(decoded) => decoded,
            Err(e) => {
                failures.push(format!("{file} ({what}): {e}"));
                continue;
            }
        };
        let expected = expected_planes(case["expected"].as_str().unwrap());
        let jpeg::Planes::Eight(planes) = &decoded.planes else {
            failures.push(format!("{file} ({what}): not decoded as 8-bit"));
            continue;
        };
        let differing: usize = planes
            .iter()
            .zip(&expected)
            .map(|(ours, theirs)| ours.iter().zip(theirs).filter(|(a, b)| a != b).count())
            .sum();
        if planes.len() != expected.len() || planes[0].len() != expected[0].len() {
            failures.push(format!("{file} ({what}): a different shape from Pillow's"));
        } else if differing > 0 {
            failures.push(format!("{file} ({what}): {differing} samples differ from Pillow's"));
        }
        match case["warning"].as_str() {
            Some(warning) => {
                damaged += 1;
                let kinds: Vec<&str> = decoded
                    .damage
                    .records()
                    .iter()
                    .map(|r| kind_of_damage(&r.first))
                    .collect();
                if !kinds.contains(&kind_of(warning)) {
                    failures.push(format!(
                        "{file} ({what}): libjpeg-turbo warns \"{warning}\", chexlens says \"{}\"",
                        decoded.damage
                    ));
                }
                // Where the text holds no byte count, it is libjpeg-turbo's word for word.
                let same_text = decoded.damage.records().iter().any(|r| r.first.to_string() == warning);
                if !warning.contains("extraneous") && !same_text {
                    failures.push(format!("{file}: \"{warning}\" is not among \"{}\"", decoded.damage));
                }
            }
            None if !case["damaged"].as_bool().unwrap() && !decoded.damage.is_empty() => {
                failures.push(format!(
                    "{file} ({what}): a sound file reported as damaged: {}",
                    decoded.damage
                ));
            }
            None => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        damaged >= 30 && arithmetic >= 50,
        "{damaged} damaged, {arithmetic} arithmetic"
    );
}
