//! The fit against scikit-learn's `LedoitWolf` on the same features
//! (tools/reference/reference_statistics.py): mean, shrinkage, precision,
//! the images' own distances, numpy's percentiles of them, and distances of
//! queries near and far, to 1e-4 (relative where values exceed 1).

use chexlens_reference::MemberStatistics;
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ledoit_wolf.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Rows as chexlens holds features: the JSON's decimals, as f32.
fn rows_f32(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| floats(row).into_iter().map(|x| x as f32).collect())
        .collect()
}

fn close(ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= 1e-4 * theirs.abs().max(1.0),
        "{what}: {ours} vs scikit-learn's {theirs}"
    );
}

fn all_close(ours: &[f32], theirs: &[f64], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (&o, &t)) in ours.iter().zip(theirs).enumerate() {
        close(f64::from(o), t, &format!("{what}[{i}]"));
    }
}

#[test]
fn ledoit_wolf_statistics_match_scikit_learn() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = rows_f32(&case["x"]);
        assert_eq!(x.len() as u64, case["images"].as_u64().unwrap());
        let stats = MemberStatistics::fit(&x, 99.0).unwrap();
        assert_eq!(stats.features() as u64, case["features"].as_u64().unwrap());
        all_close(&stats.mean, &floats(&case["location"]), &format!("{name} mean"));
        close(
            stats.shrinkage,
            case["shrinkage"].as_f64().unwrap(),
            &format!("{name} shrinkage"),
        );
        all_close(
            &stats.precision,
            &floats(&case["precision"]),
            &format!("{name} precision"),
        );
        // Ours are sorted; the fixture's are in the images' order.
        let mut distances = floats(&case["distances"]);
        distances.sort_by(f64::total_cmp);
        all_close(&stats.distances, &distances, &format!("{name} distances"));
        close(
            f64::from(stats.threshold),
            case["percentile_99"].as_f64().unwrap(),
            &format!("{name} 99th percentile"),
        );
        let at_90 = MemberStatistics::fit(&x, 90.0).unwrap();
        close(
            f64::from(at_90.threshold),
            case["percentile_90"].as_f64().unwrap(),
            &format!("{name} 90th percentile"),
        );
        let queries = rows_f32(&case["queries"]);
        let expected = floats(&case["query_distances"]);
        assert!(expected.iter().any(|&d| d > 100.0), "{name}: a far query");
        for (i, (query, want)) in queries.iter().zip(expected).enumerate() {
            close(stats.distance(query).unwrap(), want, &format!("{name} query {i}"));
        }
    }
}

#[test]
fn fewer_images_than_features_still_fit_only_through_shrinkage() {
    let reference = reference();
    let case = &reference["cases"][1];
    assert!(case["images"].as_u64() < case["features"].as_u64());
    let stats = MemberStatistics::fit(&rows_f32(&case["x"]), 99.0).unwrap();
    assert!(stats.shrinkage > 0.0);
}
