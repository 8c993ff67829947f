//! The evaluation metrics against scikit-learn on the same scores
//! (tools/reference/evaluation_reference.py), to 1e-6.

use chexlens_research::evaluation::{auroc, average_precision, calibration, roc_curve};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/evaluation.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn close(ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= 1e-6,
        "{what}: {ours} vs scikit-learn's {theirs}"
    );
}

#[test]
fn metrics_match_scikit_learn() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let scores = floats(&case["scores"]);
        let truth: Vec<bool> = case["truth"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64() == Some(1))
            .collect();

        let auc = auroc(&scores, &truth).unwrap();
        close(
            auc.value,
            case["roc_auc_score"].as_f64().unwrap(),
            &format!("{name} AUROC"),
        );
        close(
            auc.std_error,
            case["delong_std_error"].as_f64().unwrap(),
            &format!("{name} DeLong SE"),
        );
        let ap = average_precision(&scores, &truth).unwrap();
        close(
            ap,
            case["average_precision_score"].as_f64().unwrap(),
            &format!("{name} AP"),
        );

        let curve = roc_curve(&scores, &truth);
        let (fpr, tpr) = (floats(&case["roc_curve"]["fpr"]), floats(&case["roc_curve"]["tpr"]));
        let thresholds = floats(&case["roc_curve"]["thresholds"]);
        assert_eq!(curve.len(), fpr.len(), "{name}: ROC points");
        for (i, point) in curve.iter().enumerate() {
            close(point.false_positive_rate, fpr[i], &format!("{name} fpr[{i}]"));
            close(point.true_positive_rate, tpr[i], &format!("{name} tpr[{i}]"));
            if i > 0 {
                close(point.threshold, thresholds[i - 1], &format!("{name} threshold[{i}]"));
            }
        }

        let bins = calibration(&scores, &truth).unwrap().bins;
        let prob_true = floats(&case["calibration_curve"]["prob_true"]);
        let prob_pred = floats(&case["calibration_curve"]["prob_pred"]);
        assert_eq!(bins.len(), prob_true.len(), "{name}: calibration bins");
        for (i, bin) in bins.iter().enumerate() {
            close(bin.fraction_positive, prob_true[i], &format!("{name} prob_true[{i}]"));
            close(bin.mean_probability, prob_pred[i], &format!("{name} prob_pred[{i}]"));
        }
    }
}
