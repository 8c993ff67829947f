//! chexlens-research: what researchers bring and take away. Labelled
//! folders (`csv`, `labelled`), the metrics they check the model with
//! (`evaluation`: AUC, calibration, thresholds, plots), the batch results'
//! line format (`batch_results`) and the export archive (`export`).

pub mod batch_results;
pub mod csv;
pub mod evaluation;
pub mod export;
pub mod labelled;
