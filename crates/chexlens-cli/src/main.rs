//! The chexlens command line.

mod bench;
mod convert;
mod deploy;
mod device;
mod dicom_out;
mod evaluate;
mod failure;
mod files;
mod hub;
mod model_source;
mod output;
mod predict;
mod progress;
mod reference;
mod shard;

use chexlens_chexpert::metadata::parse_age;
use chexlens_chexpert::metadata::{Projection, Sex, View};
use chexlens_hub::HubRepo;
use chexlens_model::gradcam::{CamLayer, CamMethod, CamSettings};
use chexlens_research::evaluation::{Pick, UncertainPolicy};
use clap::{Parser, Subcommand};
use failure::{Failure, exit};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "chexlens",
    version,
    about = "Private chest X-ray analysis: 14 CheXpert findings from ConvNeXt + CBAM + metadata ensembles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probabilities and findings for each image (PNG, JPEG or DICOM).
    Predict(PredictArgs),
    /// AUROC with 95% CIs, AUPRC, operating points and calibration on a
    /// labelled set in CheXpert's CSV layout.
    Evaluate(EvaluateArgs),
    /// Time forward passes and Grad-CAM on generated weights (nothing downloaded).
    Bench(BenchArgs),
    /// Rewrite a checkpoint as .safetensors (optionally f16) and report the drift.
    Convert(ConvertArgs),
    /// Write a model for a static host beside the page: f16 .safetensors
    /// members and models/manifest.json with their sha256 sums.
    Deploy(DeployArgs),
    /// Print the JSON Schema of `predict --json`'s lines or `evaluate --json`.
    Schema {
        #[arg(value_enum)]
        of: output::SchemaOf,
    },
}

/// The repository flag every model-reading command shares.
const HUB_HELP: &str = "A Hugging Face Hub model repository, OWNER/NAME or OWNER/NAME@REVISION: its chexlens.json manifest, \
else its .pth/.safetensors files (one to three, in name order), fetched into the Hugging Face cache \
(HF_HOME; HF_TOKEN or the saved token for private repositories; HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache alone)";

fn parse_hub(text: &str) -> Result<HubRepo, String> {
    text.parse().map_err(|e: chexlens_hub::HubError| e.to_string())
}

#[derive(clap::Args)]
struct DeployArgs {
    #[arg(long, value_parser = parse_hub, help = HUB_HELP, conflicts_with_all = ["model", "weights"],
          required_unless_present_any = ["model", "weights"])]
    hub: Option<HubRepo>,
    /// Model manifest (JSON) listing the ensemble's weight files.
    #[arg(long, conflicts_with = "weights")]
    model: Option<PathBuf>,
    /// Weight files of the members (.pth or .safetensors), with the reference settings.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<PathBuf>,
    /// The folder served with the page (its dist/): the model goes into DIR/models/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Keep the weights in f32 (twice the download) instead of f16.
    #[arg(long)]
    f32: bool,
}

#[derive(clap::Args)]
struct ConvertArgs {
    /// The checkpoint to convert (.pth or .safetensors, as `predict` reads it).
    #[arg(required_unless_present = "hub")]
    input: Option<PathBuf>,
    #[arg(long, value_parser = parse_hub, help = HUB_HELP, conflicts_with = "input")]
    hub: Option<HubRepo>,
    /// Where to write the .safetensors file (with --hub: a folder, one file per member).
    #[arg(short, long)]
    output: PathBuf,
    /// Store the weights as f16 (half the bytes); a tensor beyond f16's range stays f32.
    #[arg(long)]
    f16: bool,
    /// Images (PNG, JPEG or DICOM) to compare the two files' probabilities on
    /// [default: the bench input]; repeat the flag or separate with commas.
    #[arg(long, value_delimiter = ',')]
    check: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Blocks per stage [default: convnext_base's 3,3,27,3].
    #[arg(long, value_delimiter = ',', default_values_t = [3, 3, 27, 3])]
    depths: Vec<usize>,
    /// Channels per stage [default: convnext_base's 128,256,512,1024].
    #[arg(long, value_delimiter = ',', default_values_t = [128, 256, 512, 1024])]
    dims: Vec<usize>,
    /// Ensemble members.
    #[arg(long, default_value_t = 3)]
    members: usize,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Labels given heat maps in the Grad-CAM measurement.
    #[arg(long, default_value_t = 14)]
    labels: usize,
    /// Input side in pixels.
    #[arg(long, default_value_t = 384)]
    size: usize,
    /// Checkpoints (.pth or .safetensors) to bench instead of generated weights,
    /// loaded as `predict` loads them; repeat the flag or separate with commas.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["depths", "dims", "members"])]
    weights: Vec<PathBuf>,
    #[arg(long, value_parser = parse_hub, help = HUB_HELP, conflicts_with_all = ["depths", "dims", "members", "weights", "write_weights"])]
    hub: Option<HubRepo>,
    /// One JSON object instead of the table (read by tools/bench/pytorch_peer.py).
    #[arg(long)]
    json: bool,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    device: device::DeviceChoice,
    /// Write the generated members as .safetensors into DIR instead of
    /// timing them (to time `predict` and `evaluate` on full-size files).
    #[arg(long, value_name = "DIR", conflicts_with = "weights")]
    write_weights: Option<PathBuf>,
    /// Also time every heat-map method (--cam-method) at both layers for
    /// --labels labels on one member, and one map's faithfulness measures
    /// (--cam-metrics) on the whole ensemble.
    #[arg(long)]
    cam_methods: bool,
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// The labelled set: a CSV in CheXpert's layout (Path, Sex, Age,
    /// Frontal/Lateral, AP/PA, then a column per finding with 1, 0, -1 or blank).
    #[arg(long = "labels", value_name = "CSV", required_unless_present = "images")]
    labels_csv: Option<PathBuf>,
    /// With --write-reference: an unlabelled folder of chest radiographs
    /// (every file under it is tried) instead of --labels.
    #[arg(
        long,
        value_name = "DIR",
        requires = "write_reference",
        conflicts_with = "labels_csv"
    )]
    images: Option<PathBuf>,
    /// Compute the members' reference statistics (the distance of each
    /// image's features to these radiographs, which warns on images unlike
    /// them) on the images, write them to FILE and name them in --model's
    /// manifest, instead of scoring. Images whose file says they are not
    /// chest radiographs are passed over.
    #[arg(long, value_name = "FILE.safetensors")]
    write_reference: Option<PathBuf>,
    /// With --write-reference: images whose distance lies beyond this
    /// percentile of the reference radiographs' own are warned.
    #[arg(long, default_value_t = chexlens_reference::statistics::DEFAULT_PERCENTILE, requires = "write_reference", value_parser = parse_percentile)]
    percentile: f64,
    /// Skip images with warnings (not chest radiographs, unlike the
    /// reference radiographs) instead of scoring them: they are listed as skipped.
    #[arg(long)]
    strict: bool,
    /// Where the CSV's image paths start [default: the CSV's folder].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Model manifest (JSON); not needed when --predictions already hold every image.
    #[arg(long, conflicts_with = "weights")]
    model: Option<PathBuf>,
    #[arg(long, value_parser = parse_hub, help = HUB_HELP, conflicts_with_all = ["model", "weights"])]
    hub: Option<HubRepo>,
    /// Weight files of the members (.pth or .safetensors), with the reference settings.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<PathBuf>,
    /// What an uncertain (-1) label counts as: ignore (left out, the CheXpert
    /// paper's U-Ignore), zeros or ones.
    #[arg(long, default_value = "ignore", value_parser = |s: &str| s.parse::<UncertainPolicy>())]
    uncertain: UncertainPolicy,
    /// Per-image predictions: read from every file named, and new ones are
    /// appended to the first as they are made, so an interrupted run resumes
    /// and shards merge (name several, comma-separated, to re-score them).
    #[arg(long, value_delimiter = ',', value_name = "FILE.csv")]
    predictions: Vec<PathBuf>,
    /// Analyse only shard I of N (0-based): a fixed split by each path.
    #[arg(long, value_name = "I/N", value_parser = |s: &str| s.parse::<shard::Shard>())]
    shard: Option<shard::Shard>,
    /// Score the operating point at this threshold for every label
    /// [default: the manifest's thresholds, else 0.55].
    #[arg(long, value_parser = parse_threshold)]
    threshold: Option<f32>,
    /// Pick each label's threshold: youden, sensitivity=0.9 or specificity=0.9.
    #[arg(long, value_parser = |s: &str| s.parse::<Pick>())]
    pick: Option<Pick>,
    /// Write the picked thresholds into this manifest (updated in place if it
    /// exists, else a copy of --model's, else a new one naming --weights).
    #[arg(long, requires = "pick", value_name = "MANIFEST.json")]
    write_thresholds: Option<PathBuf>,
    /// Write each label's ROC curve and reliability diagram as SVG into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Patient sex for every image [default: the CSV's Sex column, else a DICOM's tag, else the manifest's].
    #[arg(long, value_parser = |s: &str| s.parse::<Sex>())]
    sex: Option<Sex>,
    /// Age in years, or 'unknown', for every image [default: the CSV's Age column, and so on].
    #[arg(long, value_parser = |s: &str| parse_age(s).map(Age))]
    age: Option<Age>,
    /// frontal or lateral for every image [default: the CSV's Frontal/Lateral column, and so on].
    #[arg(long, value_parser = |s: &str| s.parse::<View>())]
    view: Option<View>,
    /// ap, pa, none or unknown for every image [default: the CSV's AP/PA column, and so on].
    #[arg(long, value_parser = |s: &str| s.parse::<Projection>())]
    projection: Option<Projection>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    device: device::DeviceChoice,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("overlays").args(["cam", "dicom_out"]).multiple(true)))]
struct PredictArgs {
    /// Model manifest (JSON) listing the ensemble's weight files.
    #[arg(long, conflicts_with = "weights", required_unless_present_any = ["weights", "hub"])]
    model: Option<PathBuf>,
    #[arg(long, value_parser = parse_hub, help = HUB_HELP, conflicts_with_all = ["model", "weights"])]
    hub: Option<HubRepo>,
    /// Weight file (.pth or .safetensors) of one ensemble member, with the reference
    /// settings; repeat the flag (or separate with commas) for more members.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<PathBuf>,
    /// Patient sex: male or female [default: a DICOM's PatientSex, else the manifest's, else male].
    #[arg(long, value_parser = |s: &str| s.parse::<Sex>())]
    sex: Option<Sex>,
    /// Age in years, or 'unknown' [default: a DICOM's PatientAge (or birth and study dates), else the manifest's, else 50].
    #[arg(long, value_parser = |s: &str| parse_age(s).map(Age))]
    age: Option<Age>,
    /// frontal or lateral [default: a DICOM's ViewPosition, else the manifest's, else frontal].
    #[arg(long, value_parser = |s: &str| s.parse::<View>())]
    view: Option<View>,
    /// ap, pa, none (no AP/PA label) or unknown [default: a DICOM's ViewPosition, else the manifest's, else pa].
    #[arg(long, value_parser = |s: &str| s.parse::<Projection>())]
    projection: Option<Projection>,
    /// Report findings at or above this probability, for every label
    /// [default: the manifest's thresholds, else 0.55].
    #[arg(long, value_parser = parse_threshold)]
    threshold: Option<f32>,
    /// One JSON object per line per image.
    #[arg(long)]
    json: bool,
    /// Write one Grad-CAM overlay PNG per finding into DIR (JET colormap over
    /// the image at its own resolution, 50% image weight).
    #[arg(long, value_name = "DIR")]
    cam: Option<PathBuf>,
    /// With --cam or --dicom-out, overlays for every label, not only findings.
    #[arg(long, requires = "overlays")]
    all_labels: bool,
    /// The heat maps' method: gradcam (the reference's), layercam, gradcam++,
    /// xgradcam, hirescam, gradcam-elementwise, eigencam or eigengradcam, each as
    /// pytorch-grad-cam computes it.
    #[arg(long, value_name = "NAME", default_value = "gradcam", value_parser = parse_cam_method)]
    cam_method: CamMethod,
    /// The heat maps' layer: last (the last block's depthwise conv, 12x12 at
    /// 384 px, the reference's) or stages_2 (the previous stage's, 24x24; its
    /// gradients run back through the last stage).
    #[arg(long, value_name = "LAYER", default_value = "last", value_parser = parse_cam_layer)]
    cam_layer: CamLayer,
    /// Measure each heat map's faithfulness (nine more passes per map): the
    /// confidence change on the image multiplied by the map, and the
    /// probability with 20/40/60/80% of the most and least relevant pixels
    /// replaced by the image's mean. Maps every finding unless --cam or
    /// --dicom-out with --all-labels asks for more.
    #[arg(long)]
    cam_metrics: bool,
    /// Write each image's results into DIR as DICOM objects of its study, a
    /// new series each: <stem>_report.dcm, a Comprehensive SR (TID 1500) of
    /// every label's probability and decision, referencing the image, and
    /// <stem>_<label>.dcm, each finding's overlay as a Secondary Capture.
    #[arg(long, value_name = "DIR")]
    dicom_out: Option<PathBuf>,
    /// With --dicom-out, also write the results of PNG and JPEG images, each
    /// as a new study of this patient ID.
    #[arg(long, value_name = "ID", requires = "dicom_out")]
    patient_id: Option<String>,
    /// With --patient-id, the new studies' patient name (DICOM's Family^Given).
    #[arg(long, value_name = "NAME", requires = "patient_id")]
    patient_name: Option<String>,
    /// Print model load time and each image's analysis time to stderr.
    #[arg(long)]
    timings: bool,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    device: device::DeviceChoice,
    /// Which frame of a multi-frame DICOM to analyse, from 1 as DICOM
    /// numbers them; other files have only frame 1.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    frame: u32,
    /// Analyse only shard I of N (0-based) of the images: a fixed split by
    /// each path, so N runs share a folder without overlap.
    #[arg(long, value_name = "I/N", value_parser = |s: &str| s.parse::<shard::Shard>())]
    shard: Option<shard::Shard>,
    /// Refuse images that may not be chest radiographs (a CT, a photograph,
    /// features unlike the reference radiographs): each is reported as an
    /// error, and the exit status is 1.
    #[arg(long)]
    strict: bool,
    /// Images to analyse.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// An age in years, or unknown (`None`).
#[derive(Clone, Copy)]
struct Age(Option<f32>);

fn parse_threshold(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err(format!("'{s}' is not a probability between 0 and 1")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    exit(match cli.command {
        Command::Predict(args) => run_predict(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Bench(args) => run_bench(args),
        Command::Convert(args) => run_convert(args),
        Command::Deploy(args) => run_deploy(args),
        Command::Schema { of } => {
            print!("{}", output::schema(of));
            Ok(())
        }
    })
}

fn run_convert(args: ConvertArgs) -> Result<(), Failure> {
    let convert = |input: PathBuf, output: PathBuf| {
        convert::run(convert::ConvertOptions {
            input,
            output,
            half: args.f16,
            check_images: args.check.clone(),
        })
        .map_err(Failure::Failed)
    };
    match (&args.hub, &args.input) {
        (Some(repo), _) => {
            let model = hub::fetch(repo, false).map_err(Failure::Setup)?;
            std::fs::create_dir_all(&args.output)
                .map_err(|e| Failure::Setup(format!("{}: cannot create the folder ({e})", args.output.display())))?;
            for (path, _) in model.weights {
                let stem = path
                    .file_stem()
                    .map_or_else(|| "member".into(), |s| s.to_string_lossy().into_owned());
                convert(path, args.output.join(format!("{stem}.safetensors")))?;
            }
            Ok(())
        }
        (None, Some(input)) => convert(input.clone(), args.output.clone()),
        (None, None) => Err(Failure::Setup("name a checkpoint or --hub".into())),
    }
}

fn run_deploy(args: DeployArgs) -> Result<(), Failure> {
    let source = match (&args.hub, &args.model) {
        (Some(repo), _) => deploy::Source::Hub(hub::fetch(repo, false).map_err(Failure::Setup)?),
        (None, Some(manifest)) => deploy::Source::Manifest(manifest.clone()),
        (None, None) => deploy::Source::Weights(args.weights.clone()),
    };
    deploy::run(source, &args.out, !args.f32).map_err(Failure::Failed)
}

fn run_bench(args: BenchArgs) -> Result<(), Failure> {
    let model = if args.weights.is_empty() && args.hub.is_none() {
        let config = chexlens_checkpoints::architecture::ArchitectureConfig::with_backbone(args.depths, args.dims);
        config.check().map_err(|e| Failure::Setup(e.to_string()))?;
        if let Some(dir) = &args.write_weights {
            for path in bench::write_generated(&config, args.members.max(1), dir).map_err(Failure::Failed)? {
                println!("{}", path.display());
            }
            return Ok(());
        }
        bench::BenchModel::Generated {
            config,
            members: args.members.max(1),
        }
    } else {
        bench::BenchModel::Files(args.weights)
    };
    let model = match &args.hub {
        Some(repo) => {
            let fetched = hub::fetch(repo, args.json).map_err(Failure::Setup)?;
            bench::BenchModel::Files(fetched.weights.into_iter().map(|(path, _)| path).collect())
        }
        None => model,
    };
    bench::run(bench::BenchOptions {
        model,
        runs: args.runs,
        warmup: args.warmup,
        labels: args.labels,
        size: args.size,
        json: args.json,
        device: args.device,
        cam_methods: args.cam_methods,
    })
    .map_err(Failure::Failed)
}

/// Where a command's model comes from and how to report its loading.
struct ModelChoice<'a> {
    hub: Option<&'a hub::HubModel>,
    manifest: Option<&'a PathBuf>,
    weights: &'a [PathBuf],
    device: device::DeviceChoice,
    timings: bool,
    quiet: bool,
}

/// The model a command runs, from a manifest or weight files.
fn open_model(choice: ModelChoice) -> Result<model_source::LoadedModel, Failure> {
    let device = choice.device.open().map_err(Failure::Setup)?;
    let started = Instant::now();
    let model = match (choice.hub, choice.manifest) {
        (Some(fetched), _) => model_source::load_hub(fetched, device),
        (None, Some(manifest)) => model_source::load_manifest(manifest, device),
        (None, None) => model_source::load_weights(choice.weights, device),
    }
    .map_err(Failure::Setup)?;
    if choice.timings {
        eprintln!(
            "chexlens: loaded {} member(s) in {:.3} s",
            model.ensemble.members.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if model.demo && !choice.quiet {
        eprintln!(
            "chexlens: '{}' is an untrained demonstration model: its numbers mean nothing",
            model.name
        );
    }
    Ok(model)
}

impl PredictArgs {
    fn metadata_flags(&self) -> predict::MetadataFlags {
        predict::MetadataFlags {
            sex: self.sex,
            age: self.age.map(|a| a.0),
            view: self.view,
            projection: self.projection,
        }
    }

    /// The manifest's thresholds, or `--threshold` for every label.
    fn thresholds(&self, model: &model_source::LoadedModel) -> chexlens_checkpoints::manifest::Thresholds {
        let mut thresholds = model.ensemble.settings.thresholds.clone();
        if let Some(t) = self.threshold {
            thresholds.default = t;
            thresholds.per_label.clear();
        }
        thresholds
    }

    /// Heat maps for --cam, --dicom-out and --cam-metrics, and for --json,
    /// whose findings carry theirs.
    fn cam_request(&self) -> predict::CamRequest {
        let overlays = self.cam.is_some() || self.dicom_out.is_some();
        let labels = match (overlays, self.all_labels, self.json || self.cam_metrics) {
            (true, true, _) => predict::CamLabels::All,
            (true, false, _) | (false, _, true) => predict::CamLabels::Findings,
            (false, _, false) => predict::CamLabels::None,
        };
        predict::CamRequest {
            labels,
            settings: CamSettings {
                method: self.cam_method,
                layer: self.cam_layer,
            },
            metrics: self.cam_metrics,
        }
    }
}

/// The files of `--hub`'s repository, fetched (or found in the cache).
fn fetch_hub(repo: Option<&HubRepo>, quiet: bool) -> Result<Option<hub::HubModel>, Failure> {
    repo.map(|r| hub::fetch(r, quiet)).transpose().map_err(Failure::Setup)
}

fn run_predict(args: PredictArgs) -> Result<(), Failure> {
    let fetched = fetch_hub(args.hub.as_ref(), args.json)?;
    let model = open_model(ModelChoice {
        hub: fetched.as_ref(),
        manifest: args.model.as_ref(),
        weights: &args.weights,
        device: args.device,
        timings: args.timings,
        quiet: args.json,
    })?;
    let (flags, thresholds) = (args.metadata_flags(), args.thresholds(&model));
    if model.reference.is_none() && !args.json {
        eprintln!(
            "chexlens: no reference statistics for this model: images are checked by their files only (chexlens evaluate --write-reference makes them)"
        );
    }
    let dicom_out = match &args.dicom_out {
        Some(dir) => Some(
            dicom_out::DicomOut::new(dir.clone(), args.patient_id.clone(), args.patient_name.clone(), &model)
                .map_err(Failure::Setup)?,
        ),
        None => None,
    };
    let refused = |analysis: &predict::AnalysedImage| args.strict && !analysis.assessment.warnings.is_empty();
    let mut failed = 0;
    let images = args
        .images
        .iter()
        .filter(|i| args.shard.is_none_or(|s| s.holds(&i.display().to_string())));
    for image in images {
        let started = Instant::now();
        let result = predict::analyse_file(&model, image, args.frame - 1, &flags, &thresholds, args.cam_request())
            .and_then(|analysis| {
                // A refused image's results are written nowhere.
                if refused(&analysis) {
                    return Ok(analysis);
                }
                if let Some(dir) = &args.cam {
                    predict::write_overlays(dir, image, &analysis)?;
                }
                if let Some(out) = &dicom_out {
                    out.write(image, &analysis, &model, &thresholds)?;
                }
                Ok(analysis)
            });
        if args.timings {
            eprintln!(
                "chexlens: {}: analysed in {:.3} s",
                image.display(),
                started.elapsed().as_secs_f64()
            );
        }
        match result {
            Ok(analysis) if refused(&analysis) => {
                failed += 1;
                eprintln!(
                    "chexlens: {}: refused (--strict): {}",
                    image.display(),
                    analysis.assessment.summary()
                );
            }
            Ok(analysis) if args.json => {
                let findings = analysis.prediction.findings(&thresholds);
                let members = model.ensemble.members.len();
                println!("{}", predict::json_line(image, &analysis, &findings, members));
            }
            Ok(analysis) => print!("{}", predict::table(image, &analysis, &thresholds)),
            Err(e) => {
                failed += 1;
                eprintln!("chexlens: {}: {e}", image.display());
            }
        }
    }
    if failed == 0 { Ok(()) } else { Err(Failure::Images) }
}

fn parse_cam_method(s: &str) -> Result<CamMethod, String> {
    CamMethod::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = CamMethod::ALL.iter().map(|m| m.name()).collect();
        format!("'{s}' is not a method; choose one of {}", names.join(", "))
    })
}

fn parse_cam_layer(s: &str) -> Result<CamLayer, String> {
    CamLayer::from_name(s).ok_or_else(|| format!("'{s}' is not a layer; choose last or stages_2"))
}

fn parse_percentile(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!("'{s}' is not a percentile above 0 and at most 100")),
    }
}

fn run_evaluate(args: EvaluateArgs) -> Result<(), Failure> {
    let fetched = fetch_hub(args.hub.as_ref(), args.json)?;
    if let Some(out) = args.write_reference.clone() {
        return write_reference(args, out, fetched.as_ref());
    }
    let Some(labels_csv) = args.labels_csv else {
        return Err(Failure::Setup("give --labels CSV: the labelled set to score".into()));
    };
    let model = if args.model.is_some() || !args.weights.is_empty() || fetched.is_some() {
        Some(open_model(ModelChoice {
            hub: fetched.as_ref(),
            manifest: args.model.as_ref(),
            weights: &args.weights,
            device: args.device,
            timings: false,
            quiet: args.json,
        })?)
    } else {
        None
    };
    let options = evaluate::EvaluateOptions {
        labels_csv,
        strict: args.strict,
        root: args.root,
        flags: predict::MetadataFlags {
            sex: args.sex,
            age: args.age.map(|a| a.0),
            view: args.view,
            projection: args.projection,
        },
        policy: args.uncertain,
        threshold: args.threshold,
        json: args.json,
        plots: args.plots,
        predictions: args.predictions,
        shard: args.shard,
        pick: args.pick,
        write_thresholds: args.write_thresholds,
        // --write-thresholds names the Hub model's files in the cache.
        manifest: args.model.or_else(|| fetched.as_ref().and_then(|f| f.manifest.clone())),
        weights: match &fetched {
            Some(f) if f.manifest.is_none() => f.weights.iter().map(|(path, _)| path.clone()).collect(),
            _ => args.weights,
        },
    };
    evaluate::run(options, model)
}

/// `evaluate --write-reference`: statistics of the images instead of scores.
fn write_reference(args: EvaluateArgs, out: PathBuf, fetched: Option<&hub::HubModel>) -> Result<(), Failure> {
    let model = open_model(ModelChoice {
        hub: fetched,
        manifest: args.model.as_ref(),
        weights: &args.weights,
        device: args.device,
        timings: false,
        quiet: args.json,
    })?;
    let images = match (args.images, args.labels_csv) {
        (Some(folder), _) => reference::ReferenceImages::Folder(folder),
        (None, Some(csv)) => {
            let root = args
                .root
                .unwrap_or_else(|| csv.parent().unwrap_or(std::path::Path::new(".")).to_path_buf());
            reference::ReferenceImages::Labelled { csv, root }
        }
        (None, None) => return Err(Failure::Setup("give --labels CSV or --images DIR".into())),
    };
    let options = reference::WriteReference {
        out,
        images,
        percentile: args.percentile,
        flags: predict::MetadataFlags {
            sex: args.sex,
            age: args.age.map(|a| a.0),
            view: args.view,
            projection: args.projection,
        },
        // A Hub snapshot is the Hub's: its manifest is not rewritten.
        manifest: args.model,
    };
    reference::run(options, &model)
}
