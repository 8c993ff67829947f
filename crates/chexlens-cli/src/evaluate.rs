//! `chexlens evaluate`: the model's AUROC (and more) on a labelled set in
//! CheXpert's layout. Predictions are kept in a CSV as they are made, so
//! an interrupted run resumes, shards merge, and a finished run is scored
//! again without the model.

use crate::failure::Failure;
use crate::files::{folder_of, read_bounded};
use crate::model_source::LoadedModel;
use crate::output::{Confusion, EvaluateReport, LabelScores, ReliabilityBin, SkippedImage};
use crate::predict::{self, CamRequest, MetadataFlags};
use crate::progress::Progress;
use crate::shard::Shard;
use chexlens_checkpoints::manifest::{Manifest, Thresholds};
use chexlens_research::csv::MAX_CSV_BYTES;
use chexlens_research::evaluation::{
    self, Evaluation, LabelReport, Pick, Predictions, UncertainPolicy, plots, predictions_header, predictions_line,
};
use chexlens_research::labelled::{CsvMetadata, Label, LabelledImage, LabelledSet};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct EvaluateOptions {
    pub labels_csv: PathBuf,
    /// Where the CSV's paths start [default: the CSV's folder].
    pub root: Option<PathBuf>,
    pub flags: MetadataFlags,
    pub policy: UncertainPolicy,
    /// One threshold for every label instead of the model's.
    pub threshold: Option<f32>,
    pub json: bool,
    pub plots: Option<PathBuf>,
    /// Prediction files to read; new predictions are appended to the first.
    pub predictions: Vec<PathBuf>,
    pub shard: Option<Shard>,
    pub pick: Option<Pick>,
    pub write_thresholds: Option<PathBuf>,
    /// The manifest the model came from, if it did (the base of `--write-thresholds`).
    pub manifest: Option<PathBuf>,
    pub weights: Vec<PathBuf>,
    /// Images with warnings (not chest radiographs, unlike the reference
    /// radiographs) are skipped instead of scored.
    pub strict: bool,
}

/// An image's prediction, made now or read from a predictions file.
struct Made {
    probabilities: Vec<f32>,
    /// Its warnings, in words.
    warnings: Vec<String>,
}

type Done = HashMap<String, Made>;

/// The labelled images of this shard, and the predictions already made for them.
struct Work {
    set: LabelledSet,
    images: Vec<LabelledImage>,
    done: Done,
    /// Whether lines appended to the first predictions file carry warnings
    /// (a file written before that column keeps its layout).
    append_warnings: bool,
    /// The model's labels, the columns of the predictions.
    model_labels: Vec<String>,
}

pub fn run(options: EvaluateOptions, model: Option<LoadedModel>) -> Result<(), Failure> {
    let model_labels = match &model {
        Some(m) => m.ensemble.settings.labels.clone(),
        None => labels_of_first_predictions(&options.predictions)?,
    };
    let work = gather(&options, model_labels)?;
    let missing = work.images.iter().filter(|i| !work.done.contains_key(&i.path)).count();
    let mut skipped = Vec::new();
    let mut done = work.done;
    if missing > 0 && model.is_none() {
        if missing == work.images.len() {
            return Err(Failure::Setup(format!(
                "none of the {missing} images has a prediction yet; give --model or --weights to make them"
            )));
        }
        eprintln!(
            "chexlens: {missing} of the {} images have no predictions and are not scored (give --model or --weights to make them)",
            work.images.len()
        );
    }
    if let (true, Some(model)) = (missing > 0, &model) {
        let interrupted = analyse_missing(
            &options,
            model,
            &work.images,
            &work.model_labels,
            work.append_warnings,
            &mut done,
            &mut skipped,
        )?;
        if interrupted {
            return Err(Failure::Failed(interrupted_message(&options, &work.images, &done)));
        }
    }
    if options.strict {
        refuse_warned(&work.images, &mut done, &mut skipped);
    }
    let thresholds = thresholds(&options, model.as_ref());
    let in_set = work.images.len();
    // Each scored image's probabilities and labels, built once for scoring and picking.
    let rows = scored_probabilities(&work.set, &work.images, &work.model_labels, &done);
    let evaluation = evaluation::evaluate_rows(&work.set.labels, &rows, options.policy, &thresholds);
    if let Some(dir) = &options.plots {
        write_plots(dir, &evaluation.labels).map_err(Failure::Failed)?;
    }
    let picked = options
        .pick
        .map(|rule| pick_thresholds(rule, &work.set.labels, &rows, options.policy));
    if let (Some(path), Some(picked)) = (&options.write_thresholds, &picked) {
        write_thresholds(path, &options, model.as_ref(), picked).map_err(Failure::Failed)?;
    }
    let report = Report {
        evaluation: &evaluation,
        scored: rows.len(),
        in_set,
        skipped: &skipped,
        picked: picked.as_deref(),
        options: &options,
    };
    if options.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn labels_of_first_predictions(files: &[PathBuf]) -> Result<Vec<String>, Failure> {
    let first = files.iter().find(|f| f.exists()).ok_or_else(|| {
        Failure::Setup("give --model or --weights, or --predictions naming files of an earlier run".into())
    })?;
    Ok(read_predictions(first, None)?.labels)
}

fn read_predictions(path: &Path, labels: Option<&[String]>) -> Result<Predictions, Failure> {
    let bytes = read_bounded(path, MAX_CSV_BYTES).map_err(|e| Failure::Setup(format!("{}: {e}", path.display())))?;
    Predictions::parse(&bytes, labels).map_err(|e| Failure::Setup(format!("{}: {e}", path.display())))
}

fn gather(options: &EvaluateOptions, model_labels: Vec<String>) -> Result<Work, Failure> {
    let path = &options.labels_csv;
    let bytes = read_bounded(path, MAX_CSV_BYTES).map_err(|e| Failure::Setup(format!("{}: {e}", path.display())))?;
    let set =
        LabelledSet::parse(&bytes, &model_labels).map_err(|e| Failure::Setup(format!("{}: {e}", path.display())))?;
    let images: Vec<LabelledImage> = set
        .images
        .iter()
        .filter(|i| options.shard.is_none_or(|s| s.holds(&i.path)))
        .cloned()
        .collect();
    let mut done = HashMap::new();
    let mut append_warnings = true;
    for (i, file) in options.predictions.iter().enumerate().filter(|(_, f)| f.exists()) {
        let read = read_predictions(file, Some(&model_labels))?;
        if i == 0 && !read.rows.is_empty() {
            append_warnings = read.with_warnings;
        }
        for row in read.rows {
            let made = Made {
                probabilities: row.probabilities,
                warnings: row.warnings,
            };
            done.entry(row.path).or_insert(made);
        }
    }
    Ok(Work {
        set,
        images,
        done,
        append_warnings,
        model_labels,
    })
}

/// The CSV's metadata where the flags leave a field open.
fn flags_for(image: &CsvMetadata, flags: &MetadataFlags) -> MetadataFlags {
    MetadataFlags {
        sex: flags.sex.or(image.sex),
        age: flags.age.or(image.age),
        view: flags.view.or(image.view),
        projection: flags.projection.or(image.projection),
    }
}

/// Analyses every image without a prediction, appending each to the first
/// predictions file; `Ok(true)` when Ctrl-C stopped it.
fn analyse_missing(
    options: &EvaluateOptions,
    model: &LoadedModel,
    images: &[LabelledImage],
    model_labels: &[String],
    append_warnings: bool,
    done: &mut Done,
    skipped: &mut Vec<SkippedImage>,
) -> Result<bool, Failure> {
    let root = options
        .root
        .clone()
        .unwrap_or_else(|| options.labels_csv.parent().unwrap_or(Path::new(".")).to_path_buf());
    let mut out = match options.predictions.first() {
        Some(path) => Some(open_for_append(path, model_labels).map_err(Failure::Failed)?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = stop.clone();
    // A second Ctrl-C while the first is handled ends the process at once.
    let _ = ctrlc::set_handler(move || {
        if handler_stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let todo: Vec<&LabelledImage> = images.iter().filter(|i| !done.contains_key(&i.path)).collect();
    let mut progress = Progress::new(todo.len() as u64, "analysing");
    let thresholds = model.ensemble.settings.thresholds.clone();
    for image in todo {
        if stop.load(Ordering::SeqCst) {
            progress.abandon();
            return Ok(true);
        }
        let file = root.join(&image.path);
        let flags = flags_for(&image.metadata, &options.flags);
        match predict::analyse_file(model, &file, 0, &flags, &thresholds, CamRequest::NONE) {
            Ok(analysis) => {
                let probabilities = analysis.prediction.probabilities;
                let warnings = analysis.assessment.messages();
                if let Some((path, file)) = &mut out {
                    let kept = append_warnings.then_some(warnings.as_slice());
                    writeln!(file, "{}", predictions_line(&image.path, &probabilities, kept))
                        .and_then(|()| file.flush())
                        .map_err(|e| Failure::Failed(format!("cannot write {} ({e})", path.display())))?;
                }
                done.insert(
                    image.path.clone(),
                    Made {
                        probabilities,
                        warnings,
                    },
                );
            }
            Err(reason) => {
                progress.println(&format!("chexlens: {}: {reason} (skipped)", file.display()));
                skipped.push(SkippedImage {
                    path: image.path.clone(),
                    error: reason,
                });
            }
        }
        progress.inc();
    }
    progress.finish();
    Ok(false)
}

/// `--strict`: images with warnings leave the scored set for the skipped
/// list, saying why.
fn refuse_warned(images: &[LabelledImage], done: &mut Done, skipped: &mut Vec<SkippedImage>) {
    for image in images {
        let Some(made) = done.get(&image.path).filter(|m| !m.warnings.is_empty()) else {
            continue;
        };
        let error = format!("refused (--strict): {}", made.warnings.join("; "));
        done.remove(&image.path);
        skipped.push(SkippedImage {
            path: image.path.clone(),
            error,
        });
    }
}

/// The predictions file, with its header when new.
fn open_for_append(path: &Path, labels: &[String]) -> Result<(PathBuf, std::fs::File), String> {
    let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {} ({e})", path.display()))?;
    if fresh {
        writeln!(file, "{}", predictions_header(labels))
            .map_err(|e| format!("cannot write {} ({e})", path.display()))?;
    }
    Ok((path.to_path_buf(), file))
}

fn interrupted_message(options: &EvaluateOptions, images: &[LabelledImage], done: &Done) -> String {
    let made = images.iter().filter(|i| done.contains_key(&i.path)).count();
    match options.predictions.first() {
        Some(path) => format!(
            "interrupted: {made} of {} images have predictions, kept in {}; run the same command again to go on",
            images.len(),
            path.display()
        ),
        None => format!(
            "interrupted after {made} of {} images; nothing was kept (give --predictions FILE.csv to keep and resume)",
            images.len()
        ),
    }
}

fn thresholds(options: &EvaluateOptions, model: Option<&LoadedModel>) -> Thresholds {
    let mut thresholds = model
        .map(|m| m.ensemble.settings.thresholds.clone())
        .unwrap_or_default();
    if let Some(t) = options.threshold {
        thresholds = Thresholds {
            default: t,
            per_label: Default::default(),
        };
    }
    thresholds
}

/// Each scored image's probabilities in the labelled set's label order.
fn scored_probabilities(
    set: &LabelledSet,
    images: &[LabelledImage],
    model_labels: &[String],
    done: &Done,
) -> Vec<(Vec<f32>, Vec<Label>)> {
    let columns = evaluation::columns_of(&set.labels, model_labels);
    images
        .iter()
        .filter_map(|image| {
            let p = &done.get(&image.path)?.probabilities;
            Some((columns.iter().map(|&c| p[c]).collect(), image.labels.clone()))
        })
        .collect()
}

/// Each label's threshold by the rule; labels it cannot serve are left out.
fn pick_thresholds(
    rule: Pick,
    labels: &[String],
    rows: &[(Vec<f32>, Vec<Label>)],
    policy: UncertainPolicy,
) -> Vec<(String, Option<f64>)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let (scores, truth): (Vec<f64>, Vec<bool>) = rows
                .iter()
                .filter_map(|(p, l)| Some((p[i] as f64, policy.truth(l[i])?)))
                .unzip();
            (label.clone(), rule.choose(&scores, &truth))
        })
        .collect()
}

/// Writes the picked thresholds into a manifest: the file itself if it is
/// one already, else a copy of the model's manifest, else a new manifest
/// naming the weight files.
fn write_thresholds(
    path: &Path,
    options: &EvaluateOptions,
    model: Option<&LoadedModel>,
    picked: &[(String, Option<f64>)],
) -> Result<(), String> {
    let read = |p: &Path| -> Result<Manifest, String> {
        let bytes = read_bounded(p, chexlens_checkpoints::manifest::MAX_MANIFEST_BYTES as u64)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", p.display()))?;
        Manifest::from_json(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut manifest = if path.exists() {
        read(path)?
    } else if let Some(source) = &options.manifest {
        let mut m = read(source)?;
        rebase_members(&mut m, source, path)?;
        m
    } else if let Some(model) = model {
        new_manifest(&options.weights, model)?
    } else {
        return Err("--write-thresholds needs --model, --weights or an existing manifest to write into".into());
    };
    for (label, threshold) in picked {
        if let Some(t) = threshold {
            manifest.settings.thresholds.per_label.insert(label.clone(), *t as f32);
        }
    }
    manifest.validate().map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {} ({e})", path.display()))
}

/// Member (and reference statistics) paths relative to the source
/// manifest, made absolute when the copy lives in another folder.
fn rebase_members(manifest: &mut Manifest, source: &Path, target: &Path) -> Result<(), String> {
    let (from, to) = (folder_of(source)?, folder_of(target)?);
    if from == to {
        return Ok(());
    }
    for member in manifest
        .members
        .iter_mut()
        .filter(|m| !m.is_url() && Path::new(&m.weights).is_relative())
    {
        member.weights = from.join(&member.weights).display().to_string();
    }
    if let Some(reference) = manifest
        .reference_statistics
        .as_mut()
        .filter(|r| !r.file.contains("://") && Path::new(&r.file).is_relative())
    {
        reference.file = from.join(&reference.file).display().to_string();
    }
    Ok(())
}

fn new_manifest(weights: &[PathBuf], model: &LoadedModel) -> Result<Manifest, String> {
    let members = weights
        .iter()
        .map(|w| {
            let absolute = std::fs::canonicalize(w).map_err(|e| format!("{} ({e})", w.display()))?;
            Ok(chexlens_checkpoints::manifest::MemberSpec {
                weights: absolute.display().to_string(),
                sha256: None,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Manifest {
        name: model.name.clone(),
        description: Some("thresholds picked by chexlens evaluate".into()),
        demo: model.demo,
        members,
        reference_statistics: None,
        architecture: None,
        settings: model.ensemble.settings.clone(),
    })
}

fn label_scores(r: &LabelReport) -> LabelScores {
    let op = &r.operating_point;
    LabelScores {
        label: r.label.clone(),
        positives: r.positives,
        negatives: r.negatives,
        auroc: r.auroc.map(|a| a.value),
        auroc_ci95: r.auroc.map(|a| [a.ci95.0, a.ci95.1]),
        auroc_std_error: r.auroc.map(|a| a.std_error),
        auprc: r.auprc,
        threshold: op.threshold,
        sensitivity: op.sensitivity,
        specificity: op.specificity,
        ppv: op.ppv,
        npv: op.npv,
        confusion: Confusion {
            tp: op.true_positives,
            fp: op.false_positives,
            tn: op.true_negatives,
            false_negatives: op.false_negatives,
        },
        ece: r.calibration.as_ref().map(|c| c.expected_calibration_error),
        reliability: r.calibration.as_ref().map(|c| {
            c.bins
                .iter()
                .map(|b| ReliabilityBin {
                    range: [b.range.0, b.range.1],
                    count: b.count,
                    mean_probability: b.mean_probability,
                    fraction_positive: b.fraction_positive,
                })
                .collect()
        }),
    }
}

/// What one run found, as the table or `--json` prints it.
struct Report<'a> {
    evaluation: &'a Evaluation,
    scored: usize,
    in_set: usize,
    skipped: &'a [SkippedImage],
    picked: Option<&'a [(String, Option<f64>)]>,
    options: &'a EvaluateOptions,
}

impl Report<'_> {
    fn json(&self) -> String {
        let (evaluation, options) = (self.evaluation, self.options);
        let report = EvaluateReport {
            labels_csv: options.labels_csv.display().to_string(),
            shard: options.shard.map(|s| s.to_string()),
            images_scored: self.scored,
            images_in_set: self.in_set,
            uncertain: evaluation.policy.name().into(),
            ci_method: "DeLong".into(),
            mean_auroc: evaluation.mean_auroc,
            labels: evaluation.labels.iter().map(label_scores).collect(),
            skipped: self.skipped.to_vec(),
            picked_thresholds: self.picked.map(|p| p.iter().cloned().collect()),
        };
        serde_json::to_string(&report).expect("a report is JSON")
    }

    fn table(&self) -> String {
        let Report {
            evaluation,
            scored,
            in_set,
            skipped,
            picked,
            options,
        } = *self;
        let fmt = |v: Option<f64>| v.map_or("   -  ".to_string(), |v| format!("{v:.3}"));
        let width = evaluation
            .labels
            .iter()
            .map(|r| r.label.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!(
            "{}{}: {scored} of {in_set} images scored, uncertain labels: {}; AUROC 95% CIs by DeLong's method\n",
            options.labels_csv.display(),
            options.shard.map_or(String::new(), |s| format!(" (shard {s})")),
            evaluation.policy.name(),
        );
        out.push_str(&format!(
            "  {:<width$}  {:>5} {:>5}  {:<21}  {:>5}  {:>5}  {:>5} {:>5} {:>5} {:>5}  {:>5}\n",
            "label", "pos", "neg", "AUROC (95% CI)", "AUPRC", "thr", "sens", "spec", "PPV", "NPV", "ECE"
        ));
        for r in &evaluation.labels {
            let op = &r.operating_point;
            let auc = r.auroc.map_or("       -".to_string(), |a| {
                format!("{:.3} ({:.3}-{:.3})", a.value, a.ci95.0, a.ci95.1)
            });
            out.push_str(&format!(
                "  {:<width$}  {:>5} {:>5}  {auc:<21}  {:>5}  {:>5.2}  {:>5} {:>5} {:>5} {:>5}  {:>5}\n",
                r.label,
                r.positives,
                r.negatives,
                fmt(r.auprc),
                op.threshold,
                fmt(op.sensitivity),
                fmt(op.specificity),
                fmt(op.ppv),
                fmt(op.npv),
                fmt(r.calibration.as_ref().map(|c| c.expected_calibration_error)),
            ));
        }
        let with_both = evaluation.labels.iter().filter(|r| r.auroc.is_some()).count();
        out.push_str(&format!(
            "  mean AUROC over the {with_both} labels with both classes: {}\n",
            fmt(evaluation.mean_auroc)
        ));
        if let Some(picked) = picked {
            let list: Vec<String> = picked
                .iter()
                .map(|(l, t)| format!("{l} {}", t.map_or("-".into(), |t| format!("{t:.4}"))))
                .collect();
            out.push_str(&format!("  picked thresholds: {}\n", list.join(", ")));
        }
        if !skipped.is_empty() {
            out.push_str(&format!("  {} images skipped:\n", skipped.len()));
            for s in skipped {
                out.push_str(&format!("    {}: {}\n", s.path, s.error));
            }
        }
        out
    }
}

/// Writes `roc_<label>.svg` and `reliability_<label>.svg` for every label.
fn write_plots(dir: &Path, reports: &[LabelReport]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
    for report in reports {
        let slug = chexlens_chexpert::labels::file_slug(&report.label);
        let drawings = [
            ("roc", plots::roc_svg(report)),
            ("reliability", plots::reliability_svg(report)),
        ];
        for (kind, svg) in drawings {
            let path = dir.join(format!("{kind}_{slug}.svg"));
            std::fs::write(&path, svg).map_err(|e| format!("cannot write {} ({e})", path.display()))?;
        }
    }
    Ok(())
}
