//! The loaded model as the worker runs it: the whole ensemble in this
//! worker, or (CPU backend, several cores) its members spread over member
//! workers. Both give the same numbers: the combining rules live once, in
//! the model crate.

use super::faults::{NOT_CURRENT, NOT_OPEN};
use super::members::{MemberPool, PoolBuilder, PoolError};
use crate::passes::KeptPasses;
use chexlens_checkpoints::architecture::ArchitectureConfig;
use chexlens_checkpoints::architecture::expect;
use chexlens_checkpoints::manifest::ModelSettings;
use chexlens_checkpoints::weights::StateDict;
use chexlens_checkpoints::weights::WeightStream;
use chexlens_checkpoints::weights::{WeightError, WeightErrorKind};
use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamMap;
use chexlens_images::faithfulness::{Faithfulness, Perturbation};
use chexlens_images::image::XrayImage;
use chexlens_model::faithfulness;
use chexlens_model::gradcam::CamSettings;
use chexlens_model::{Analysis, AnalysisError, Device, Ensemble, Prediction};
use chexlens_reference::statistics::ReferenceStatistics;
use chexlens_web::protocol::Backend;
use js_sys::Uint8Array;
use std::cell::RefCell;

/// Told to the user when a member worker stops.
const STOPPED: &str =
    "part of the analysis engine stopped unexpectedly (the browser may be short of memory); load the model again";

/// Where a model is to run.
pub struct EnginePlan {
    pub device: Device,
    pub backend: Backend,
    /// The most member workers to use; 1 keeps every member in this worker.
    pub parallel: usize,
}

/// A model being put together as its weight files arrive, each read as
/// its bytes stream in: [`Assembly::open`], [`Assembly::push`] the
/// bytes, [`Assembly::close`].
pub enum Assembly {
    Here {
        weights: Vec<StateDict>,
        /// The file being read.
        reading: Option<Box<WeightStream>>,
        device: Device,
    },
    Pool(PoolBuilder),
}

impl EnginePlan {
    /// Member workers where they help (CPU backend, several members and
    /// cores); this worker otherwise, or when they cannot be started. The
    /// threaded worker keeps its members when its pool has more threads
    /// than there are members (every core on each member in turn);
    /// otherwise members side by side, one thread each, were measured
    /// faster (3 members on 2 cores: 4.73 s against 5.16 s,
    /// docs/benchmarks.md).
    pub async fn assembly(&self, members: usize) -> Assembly {
        let workers = if super::threads::threads() > members {
            1
        } else {
            self.parallel.min(members)
        };
        if self.backend == Backend::Cpu
            && workers > 1
            && let Ok(pool) = PoolBuilder::start(workers).await
        {
            return Assembly::Pool(pool);
        }
        Assembly::Here {
            weights: Vec::with_capacity(members),
            reading: None,
            device: self.device.clone(),
        }
    }
}

fn pool_message(e: PoolError) -> String {
    match e {
        PoolError::Failed(message) => message,
        PoolError::Stopped => STOPPED.into(),
        PoolError::NoRoom(needed) => WeightErrorKind::NoRoom { needed }.to_string(),
    }
}

/// Why a weight file could not be added to the model.
pub enum AssemblyError {
    Failed(String),
    /// Room for its weights (bytes as f32) could not be had.
    NoRoom(u64),
}

impl From<PoolError> for AssemblyError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::NoRoom(needed) => AssemblyError::NoRoom(needed),
            e => AssemblyError::Failed(pool_message(e)),
        }
    }
}

impl From<WeightError> for AssemblyError {
    fn from(e: WeightError) -> Self {
        match e.kind {
            WeightErrorKind::NoRoom { needed } => AssemblyError::NoRoom(needed),
            _ => AssemblyError::Failed(e.to_string()),
        }
    }
}

impl Assembly {
    /// Starts the next member's weight file, named `name` in messages. A
    /// file opened again (its offline copy failed part-way) starts over.
    pub async fn open(&mut self, name: &str) -> Result<(), AssemblyError> {
        match self {
            Assembly::Here { reading, .. } => {
                *reading = Some(Box::new(WeightStream::new(name, expect(None))));
                Ok(())
            }
            Assembly::Pool(pool) => Ok(pool.open(name).await?),
        }
    }

    /// The open file's next bytes, as they arrived (`chunk`) and copied
    /// into this worker (`bytes`).
    pub async fn push(&mut self, chunk: &Uint8Array, bytes: &[u8]) -> Result<(), AssemblyError> {
        match self {
            Assembly::Here { reading, .. } => match reading {
                Some(stream) => Ok(stream.push(bytes)?),
                None => Err(AssemblyError::Failed(NOT_OPEN.into())),
            },
            Assembly::Pool(pool) => Ok(pool.push(chunk).await?),
        }
    }

    /// The open file's f32 weight bytes once its index has been read, else
    /// the last file's.
    pub fn f32_bytes(&self) -> Option<u64> {
        match self {
            Assembly::Here { reading, weights, .. } => match reading {
                Some(stream) => stream.f32_bytes(),
                None => weights
                    .last()
                    .map(|w| w.tensors.values().map(|t| t.data.len() as u64 * 4).sum()),
            },
            Assembly::Pool(pool) => pool.f32_bytes(),
        }
    }

    /// Whether weight files are read in this worker (their bytes must be copied here).
    pub fn reads_here(&self) -> bool {
        matches!(self, Assembly::Here { .. })
    }

    /// The workers the members are spread over.
    pub fn workers(&self) -> usize {
        match self {
            Assembly::Here { .. } => 1,
            Assembly::Pool(pool) => pool.workers(),
        }
    }

    /// The open file is whole: its member is read.
    pub async fn close(&mut self) -> Result<(), AssemblyError> {
        match self {
            Assembly::Here { weights, reading, .. } => {
                let stream = reading.take().ok_or(AssemblyError::Failed(NOT_OPEN.into()))?;
                weights.push(stream.finish()?);
                Ok(())
            }
            Assembly::Pool(pool) => Ok(pool.close().await?),
        }
    }

    pub async fn build(
        self,
        architecture: Option<ArchitectureConfig>,
        settings: ModelSettings,
    ) -> Result<Engine, String> {
        match self {
            Assembly::Here { weights, device, .. } => {
                let ensemble =
                    Ensemble::from_state_dicts(weights, architecture, settings, device).map_err(|e| e.to_string())?;
                Ok(Engine::new(Runs::Here {
                    ensemble,
                    kept: RefCell::default(),
                }))
            }
            Assembly::Pool(pool) => Ok(Engine::new(Runs::Pool(
                pool.build(architecture, settings).await.map_err(pool_message)?,
            ))),
        }
    }
}

/// A failed analysis or heat map; `lost` when the model can no longer run.
pub struct EngineError {
    pub message: String,
    pub lost: bool,
}

impl From<PoolError> for EngineError {
    fn from(e: PoolError) -> Self {
        let lost = matches!(e, PoolError::Stopped);
        Self {
            message: pool_message(e),
            lost,
        }
    }
}

impl From<AnalysisError> for EngineError {
    fn from(e: AnalysisError) -> Self {
        Self {
            message: e.to_string(),
            lost: false,
        }
    }
}

impl EngineError {
    fn not_current() -> Self {
        Self {
            message: NOT_CURRENT.into(),
            lost: false,
        }
    }
}

pub struct Engine {
    runs: Runs,
    /// The members' reference statistics, where the model came with them.
    pub reference: Option<ReferenceStatistics>,
    /// The normalised input of the kept analyses, which the faithfulness
    /// measures perturb (1.7 MB at 384 px, one per lane).
    inputs: RefCell<KeptPasses<Vec<f32>>>,
}

/// One image's prediction and each member's pooled features of it.
pub struct EngineAnalysis {
    pub prediction: Prediction,
    pub member_features: Vec<Vec<f32>>,
}

enum Runs {
    Here {
        ensemble: Ensemble,
        /// Kept backbone passes: heat maps run only the layers after Grad-CAM's target.
        kept: RefCell<KeptPasses<Analysis>>,
    },
    Pool(MemberPool),
}

impl Engine {
    fn new(runs: Runs) -> Self {
        Self {
            runs,
            reference: None,
            inputs: RefCell::default(),
        }
    }

    /// Pooled features per member: the width of the backbone's last stage.
    pub fn feature_width(&self) -> usize {
        let architecture = match &self.runs {
            Runs::Here { ensemble, .. } => ensemble.architecture(),
            Runs::Pool(pool) => &pool.architecture,
        };
        architecture.dims.last().copied().unwrap_or(0)
    }

    pub fn settings(&self) -> &ModelSettings {
        match &self.runs {
            Runs::Here { ensemble, .. } => &ensemble.settings,
            Runs::Pool(pool) => &pool.settings,
        }
    }

    pub fn members(&self) -> usize {
        match &self.runs {
            Runs::Here { ensemble, .. } => ensemble.members.len(),
            Runs::Pool(pool) => pool.members(),
        }
    }

    /// The workers the members run in.
    pub fn workers(&self) -> usize {
        match &self.runs {
            Runs::Here { .. } => 1,
            Runs::Pool(pool) => pool.workers(),
        }
    }

    /// The ensemble's prediction for one image (analysis `id`). The image
    /// is prepared here, once, whichever way the members run.
    pub async fn analyse(
        &self,
        id: u32,
        image: &XrayImage,
        metadata: &Metadata,
    ) -> Result<EngineAnalysis, EngineError> {
        let input = &self.settings().input;
        let pixels = input.prepare(image);
        self.inputs.borrow_mut().keep(id, pixels.clone());
        match &self.runs {
            Runs::Here { ensemble, kept } => {
                let (images, meta) = ensemble.inputs_from_normalised(pixels, input.size, metadata);
                let analysis = ensemble.analyse_inputs(images, meta).await?;
                let done = EngineAnalysis {
                    prediction: analysis.prediction.clone(),
                    member_features: analysis.member_features.clone(),
                };
                kept.borrow_mut().keep(id, analysis);
                Ok(done)
            }
            Runs::Pool(pool) => {
                let (member_logits, member_features) = pool.analyse(id, &pixels, metadata).await?;
                Ok(EngineAnalysis {
                    prediction: Prediction::from_member_logits(&pool.settings, member_logits),
                    member_features,
                })
            }
        }
    }

    /// Each member's logits for analysis `id`'s image with other metadata,
    /// from the kept backbone passes (only the head runs).
    async fn member_logits_for(&self, id: u32, metadata: &Metadata) -> Result<Vec<Vec<f32>>, EngineError> {
        Ok(match &self.runs {
            Runs::Here { ensemble, kept } => {
                let analysis = kept.borrow().get(id).ok_or_else(EngineError::not_current)?;
                ensemble.member_logits_for(&analysis, metadata).await?
            }
            Runs::Pool(pool) => pool.logits_for(id, metadata).await?,
        })
    }

    /// The ensemble's prediction for analysis `id`'s image with other
    /// metadata, from the kept backbone passes (only the head runs).
    pub async fn with_metadata(&self, id: u32, metadata: &Metadata) -> Result<Prediction, EngineError> {
        let member_logits = self.member_logits_for(id, metadata).await?;
        Ok(Prediction::from_member_logits(self.settings(), member_logits))
    }

    /// Each member's heat map for each label of analysis `id` (`members x labels`).
    pub async fn member_heat_maps(
        &self,
        id: u32,
        labels: &[usize],
        settings: CamSettings,
    ) -> Result<Vec<Vec<CamMap>>, EngineError> {
        match &self.runs {
            Runs::Here { ensemble, kept } => {
                let analysis = kept.borrow().get(id).ok_or_else(EngineError::not_current)?;
                Ok(ensemble.member_heat_maps(&analysis, labels, settings).await?)
            }
            Runs::Pool(pool) => Ok(pool.member_heat_maps(id, labels, settings).await?),
        }
    }

    /// The ensemble's heat map for each label of analysis `id`.
    pub async fn heat_maps(
        &self,
        id: u32,
        labels: &[usize],
        settings: CamSettings,
    ) -> Result<Vec<CamMap>, EngineError> {
        Ok(CamMap::ensemble_per_label(
            &self.member_heat_maps(id, labels, settings).await?,
        ))
    }

    /// How faithful the ensemble's map of `label` for analysis `id` is to
    /// the ensemble, with `metadata`; `progress(done, total)` after each of
    /// the perturbed passes.
    pub async fn faithfulness(
        &self,
        id: u32,
        label: usize,
        settings: CamSettings,
        metadata: &Metadata,
        progress: impl Fn(usize, usize),
    ) -> Result<Faithfulness, EngineError> {
        let pixels = self.inputs.borrow().get(id).ok_or_else(EngineError::not_current)?;
        let map = self.heat_maps(id, &[label], settings).await?;
        let map = map.into_iter().next().ok_or_else(EngineError::not_current)?;
        let size = self.settings().input.size;
        let original = self.member_logits_for(id, metadata).await?;
        let total = Perturbation::all().len();
        let done = std::cell::Cell::new(0);
        let (progress, done) = (&progress, &done);
        let rule = self.settings().combine;
        faithfulness::measure(
            &pixels,
            map.upsampled(size, size),
            label,
            rule,
            &original,
            |perturbed| async move {
                let logits = self.logits_of(perturbed, size, metadata).await;
                done.set(done.get() + 1);
                progress(done.get(), total);
                logits
            },
        )
        .await
    }

    /// Every member's logits on a normalised image, keeping nothing.
    async fn logits_of(
        &self,
        pixels: Vec<f32>,
        size: usize,
        metadata: &Metadata,
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        Ok(match &self.runs {
            Runs::Here { ensemble, .. } => {
                ensemble
                    .logits_of(0..ensemble.members.len(), pixels, size, metadata)
                    .await?
            }
            Runs::Pool(pool) => pool.logits_of(&pixels, metadata).await?,
        })
    }
}
