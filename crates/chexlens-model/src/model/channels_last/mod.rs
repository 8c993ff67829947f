//! The backbone up to its last block on the CPU backend, channels-last and
//! fused. burn's CPU ops run a ConvNeXt block as about ten passes over
//! memory with NCHW/NHWC copies in between; here a block is three: the
//! depthwise conv with its LayerNorm, fc1 with its bias and GELU, and fc2
//! accumulated straight into the residual (layer scale folded into fc2 at
//! load). The matrix products are gemm's, as in burn's CPU backend. The
//! last block stays in burn tensors (`convnext::Block`): Grad-CAM
//! differentiates it. Field names mirror the checkpoint.

use super::block::{self as convnext, PreviousStageTail, TrunkOutput};
use super::cpu_kernels::{
    ChannelNorm, DepthwiseTaps, FeatureMap, add_bias_gelu, add_rows, depthwise_conv_norm, matmul_transposed,
};
use super::layers::{self as convnext_layers, Conv2d, Loaded, WeightReader};
use burn::tensor::{Device, Tensor, TensorData};
use chexlens_checkpoints::architecture::{BackboneSpec, BlockSpec, LayerSpec};

/// `nn.LayerNorm` over channels (also timm's LayerNorm2d, which is the
/// same thing on a channels-last map).
struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn load(r: &mut WeightReader, spec: &LayerSpec, eps: f64) -> Loaded<Self> {
        Ok(Self {
            weight: r.raw(&spec.weight)?.data,
            bias: raw_bias(r, spec)?,
            eps: eps as f32,
        })
    }

    fn kernel(&self) -> ChannelNorm<'_> {
        ChannelNorm {
            weight: &self.weight,
            bias: &self.bias,
            eps: self.eps,
        }
    }
}

/// `nn.Linear`: `weight` `[out, in]` as stored, used transposed by gemm.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    fn load(r: &mut WeightReader, spec: &LayerSpec) -> Loaded<Self> {
        Ok(Self {
            weight: r.raw(&spec.weight)?.data,
            bias: raw_bias(r, spec)?,
        })
    }

    fn inputs(&self) -> usize {
        self.weight.len() / self.bias.len()
    }

    /// `y = gamma * (x W^T + b)` as one Linear: `gamma` scales output rows.
    fn scaled(mut self, gamma: &[f32]) -> Self {
        let inputs = self.inputs();
        for ((row, b), g) in self.weight.chunks_exact_mut(inputs).zip(&mut self.bias).zip(gamma) {
            row.iter_mut().for_each(|w| *w *= g);
            *b *= g;
        }
        self
    }
}

/// A `k x k` convolution with stride `k` (the stem and the downsamplers):
/// a Linear over non-overlapping patches.
struct PatchConv {
    /// `[out, k, k, in]`: the checkpoint's `[out, in, k, k]` reordered to
    /// the patch rows' (ky, kx, channel) order.
    linear: Linear,
    k: usize,
}

impl PatchConv {
    fn load(r: &mut WeightReader, spec: &LayerSpec) -> Loaded<Self> {
        let weight = r.raw(&spec.weight)?;
        let [out, inp, k, _] = weight.shape[..] else {
            unreachable!("validated against the architecture: a 4-d conv weight")
        };
        let mut reordered = vec![0f32; weight.data.len()];
        for o in 0..out {
            for i in 0..inp {
                for t in 0..k * k {
                    reordered[(o * k * k + t) * inp + i] = weight.data[(o * inp + i) * k * k + t];
                }
            }
        }
        let bias = raw_bias(r, spec)?;
        Ok(Self {
            linear: Linear {
                weight: reordered,
                bias,
            },
            k,
        })
    }

    fn forward(&self, x: &FeatureMap) -> FeatureMap {
        let patches = x.patches(self.k);
        let out_channels = self.linear.bias.len();
        let mut out = FeatureMap {
            data: vec![0f32; patches.pixels() * out_channels],
            channels: out_channels,
            ..patches
        };
        matmul_transposed(
            &patches.data,
            &self.linear.weight,
            patches.channels,
            &mut out.data,
            false,
        );
        add_rows(&mut out.data, &self.linear.bias);
        out
    }
}

/// Depthwise `k x k` conv, `weight` kept tap-major `[k*k, channels]`.
struct DepthwiseConv {
    weight: Vec<f32>,
    bias: Vec<f32>,
    k: usize,
}

impl DepthwiseConv {
    fn load(r: &mut WeightReader, spec: &LayerSpec) -> Loaded<Self> {
        let weight = r.raw(&spec.weight)?;
        let [channels, _, k, _] = weight.shape[..] else {
            unreachable!("validated against the architecture: a 4-d conv weight")
        };
        let mut tap_major = vec![0f32; weight.data.len()];
        for c in 0..channels {
            for t in 0..k * k {
                tap_major[t * channels + c] = weight.data[c * k * k + t];
            }
        }
        Ok(Self {
            weight: tap_major,
            bias: raw_bias(r, spec)?,
            k,
        })
    }

    fn taps(&self) -> DepthwiseTaps<'_> {
        DepthwiseTaps {
            weight: &self.weight,
            bias: &self.bias,
            k: self.k,
        }
    }
}

/// `mlp.fc1` -> GELU -> `mlp.fc2`, the block's `gamma` folded into fc2.
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

struct Block {
    conv_dw: DepthwiseConv,
    norm: LayerNorm,
    mlp: Mlp,
}

/// A layer's bias as plain values.
fn raw_bias(r: &mut WeightReader, spec: &LayerSpec) -> Loaded<Vec<f32>> {
    match &spec.bias {
        Some(bias) => Ok(r.raw(bias)?.data),
        None => r.bias(spec).map(|_| Vec::new()),
    }
}

/// Buffers a forward pass reuses from block to block.
#[derive(Default)]
struct Workspace {
    normed: Vec<f32>,
    hidden: Vec<f32>,
}

/// The first `len` floats of `buffer`, grown (never shrunk) to fit.
fn scratch(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

impl Block {
    fn load(r: &mut WeightReader, spec: &BlockSpec, eps: f64) -> Loaded<Self> {
        let conv_dw = DepthwiseConv::load(r, &spec.conv_dw)?;
        let norm = LayerNorm::load(r, &spec.norm, eps)?;
        let fc1 = Linear::load(r, &spec.fc1)?;
        let gamma = r.raw(&spec.gamma)?.data;
        let fc2 = Linear::load(r, &spec.fc2)?.scaled(&gamma);
        Ok(Self {
            conv_dw,
            norm,
            mlp: Mlp { fc1, fc2 },
        })
    }

    /// `x += gamma * fc2(GELU(fc1(norm(conv_dw(x)))))`, in place.
    fn forward(&self, x: &mut FeatureMap, workspace: &mut Workspace) {
        let pixels = x.pixels();
        let normed = scratch(&mut workspace.normed, x.data.len());
        depthwise_conv_norm(x, &self.conv_dw.taps(), &self.norm.kernel(), normed);

        let (fc1, fc2) = (&self.mlp.fc1, &self.mlp.fc2);
        let hidden = scratch(&mut workspace.hidden, pixels * fc1.bias.len());
        matmul_transposed(normed, &fc1.weight, fc1.inputs(), hidden, false);
        add_bias_gelu(hidden, &fc1.bias);

        add_rows(&mut x.data, &fc2.bias);
        matmul_transposed(hidden, &fc2.weight, fc2.inputs(), &mut x.data, true);
    }
}

/// `downsample.0` (LayerNorm2d) -> `downsample.1` (2x2 conv, stride 2).
struct Downsample {
    norm: LayerNorm,
    conv: PatchConv,
}

struct Stage {
    downsample: Option<Downsample>,
    blocks: Vec<Block>,
}

/// The stem and every stage up to (not including) the backbone's last block.
pub struct ConvNeXtTrunk {
    stem_0: PatchConv,
    stem_1: LayerNorm,
    stages: Vec<Stage>,
}

impl ConvNeXtTrunk {
    /// Reads every backbone weight except the last block's, which the
    /// caller loads as a tensor `Block`.
    pub fn load(r: &mut WeightReader, spec: &BackboneSpec, eps: f64) -> Loaded<Self> {
        let stem_0 = PatchConv::load(r, &spec.stem_0)?;
        let stem_1 = LayerNorm::load(r, &spec.stem_1, eps)?;
        let last_stage = spec.stages.len().saturating_sub(1);
        let mut stages = Vec::with_capacity(spec.stages.len());
        for (s, stage) in spec.stages.iter().enumerate() {
            let downsample = match &stage.downsample {
                None => None,
                Some(d) => Some(Downsample {
                    norm: LayerNorm::load(r, &d.norm, eps)?,
                    conv: PatchConv::load(r, &d.conv)?,
                }),
            };
            let depth = stage.blocks.len();
            let loaded = if s == last_stage {
                depth.saturating_sub(1)
            } else {
                depth
            };
            let blocks = stage.blocks[..loaded]
                .iter()
                .map(|b| Block::load(r, b, eps))
                .collect::<Loaded<Vec<_>>>()?;
            stages.push(Stage { downsample, blocks });
        }
        Ok(Self { stem_0, stem_1, stages })
    }

    /// The channels-last map before the last block, for NCHW images, and
    /// a copy of the previous stage's last block's input.
    pub fn forward_map(&self, images: FeatureMap) -> (FeatureMap, Option<FeatureMap>) {
        let mut x = self.stem_0.forward(&images);
        drop(images);
        self.stem_1.kernel().apply_in_place(&mut x.data);
        let mut workspace = Workspace::default();
        let mut previous_stage_block_input = None;
        let previous_stage = self.stages.len().checked_sub(2);
        for (s, stage) in self.stages.iter().enumerate() {
            if let Some(downsample) = &stage.downsample {
                downsample.norm.kernel().apply_in_place(&mut x.data);
                x = downsample.conv.forward(&x);
            }
            for (b, block) in stage.blocks.iter().enumerate() {
                if Some(s) == previous_stage && b + 1 == stage.blocks.len() {
                    previous_stage_block_input = Some(x.clone());
                }
                block.forward(&mut x, &mut workspace);
            }
        }
        (x, previous_stage_block_input)
    }

    /// `forward_map` on burn tensors: NCHW images in, NCHW maps out.
    pub fn forward(&self, images: Tensor<4>) -> TrunkOutput {
        let device = images.device();
        let dims = images.dims();
        let pixels = images
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("converted to f32");
        let (map, previous) = self.forward_map(FeatureMap::from_nchw(&pixels, dims));
        let to_tensor = |map: FeatureMap| {
            let shape = [map.n, map.height, map.width, map.channels];
            Tensor::<4>::from_data(TensorData::new(map.data, shape), &device).permute([0, 3, 1, 2])
        };
        TrunkOutput {
            before_last_block: to_tensor(map),
            previous_stage_block_input: previous.map(to_tensor),
        }
    }

    /// The previous stage's last block and the last stage up to its last
    /// block as tensors, converted back from this layout (copies, made only
    /// when the finer Grad-CAM layer is asked for).
    pub fn previous_stage_tail(&self, device: &Device) -> Option<PreviousStageTail> {
        let [.., previous, last] = &self.stages[..] else {
            return None;
        };
        Some(PreviousStageTail {
            block: previous.blocks.last()?.to_tensors(device),
            downsample: last.downsample.as_ref().map(|d| d.to_tensors(device)),
            blocks: last.blocks.iter().map(|b| b.to_tensors(device)).collect(),
        })
    }
}

fn vector(values: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

impl LayerNorm {
    fn to_tensors(&self, device: &Device) -> convnext_layers::LayerNorm {
        convnext_layers::LayerNorm::new(
            vector(&self.weight, device),
            vector(&self.bias, device),
            self.eps as f64,
        )
    }
}

impl Linear {
    /// burn's `[in, out]` (a transposed view of PyTorch's `[out, in]`).
    fn to_tensors(&self, device: &Device) -> convnext_layers::Linear {
        let (outputs, inputs) = (self.bias.len(), self.inputs());
        let weight = Tensor::<2>::from_data(TensorData::new(self.weight.clone(), [outputs, inputs]), device);
        convnext_layers::Linear {
            weight: weight.transpose(),
            bias: vector(&self.bias, device),
        }
    }
}

impl Block {
    /// The tensor block; fc2 keeps the layer scale folded in, so `gamma` is one.
    fn to_tensors(&self, device: &Device) -> convnext::Block {
        let (k, channels) = (self.conv_dw.k, self.conv_dw.bias.len());
        let mut weight = vec![0f32; self.conv_dw.weight.len()];
        for c in 0..channels {
            for t in 0..k * k {
                weight[c * k * k + t] = self.conv_dw.weight[t * channels + c];
            }
        }
        let weight = Tensor::<4>::from_data(TensorData::new(weight, [channels, 1, k, k]), device);
        convnext::Block {
            conv_dw: Conv2d::new(weight, Some(vector(&self.conv_dw.bias, device)), 1, k / 2, channels),
            norm: self.norm.to_tensors(device),
            mlp: convnext::Mlp {
                fc1: self.mlp.fc1.to_tensors(device),
                fc2: self.mlp.fc2.to_tensors(device),
            },
            gamma: Tensor::ones([channels], device),
        }
    }
}

impl Downsample {
    fn to_tensors(&self, device: &Device) -> convnext::Downsample {
        let (linear, k) = (&self.conv.linear, self.conv.k);
        let (out, inp) = (linear.bias.len(), linear.inputs() / (k * k));
        let mut weight = vec![0f32; linear.weight.len()];
        for o in 0..out {
            for i in 0..inp {
                for t in 0..k * k {
                    weight[(o * inp + i) * k * k + t] = linear.weight[(o * k * k + t) * inp + i];
                }
            }
        }
        let weight = Tensor::<4>::from_data(TensorData::new(weight, [out, inp, k, k]), device);
        convnext::Downsample {
            norm: self.norm.to_tensors(device),
            conv: Conv2d::new(weight, Some(vector(&linear.bias, device)), k, 0, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{BackboneLayout, ConvNeXtWithMetadata};
    use burn::tensor::{Device, Tensor, TensorData};
    use chexlens_checkpoints::architecture::ArchitectureConfig;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    /// The fused kernels against burn's tensor ops on one checkpoint: widths
    /// that are not multiples of the vector length, and a non-square image
    /// whose sides the stride-2 convs do not divide (PyTorch drops the
    /// remainder) and whose last map is smaller than the 7x7 kernel.
    #[test]
    fn channels_last_matches_tensor_ops() {
        let config = ArchitectureConfig::with_backbone(vec![2, 1, 1, 2], vec![12, 20, 28, 36]);
        let device = Device::flex();
        let load = |layout| {
            let weights = chexlens_checkpoints::architecture::generated(&config, 7);
            ConvNeXtWithMetadata::from_state_dict_in(config.clone(), weights, &device, layout).unwrap()
        };
        let (tensors, channels_last) = (load(BackboneLayout::Tensors), load(BackboneLayout::ChannelsLast));
        let (n, h, w) = (2, 150, 122);
        let pixels: Vec<f32> = (0..n * 3 * h * w)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let images = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, h, w]), &device);
        let metadata = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; n * 8], [n, 8]), &device);

        let state = |m: &ConvNeXtWithMetadata| {
            m.convnext_backbone
                .forward_until_last_block(images.clone())
                .before_last_block
        };
        let (a, b) = (state(&tensors), state(&channels_last));
        assert_eq!(a.dims(), [n, 36, 4, 3]);
        assert_eq!(a.dims(), b.dims());
        let scale = values(a.clone().abs().max().reshape([1, 1]))[0];
        let diff = values((a - b).abs().max().reshape([1, 1]))[0];
        assert!(scale > 0.1, "a degenerate state ({scale}) would prove nothing");
        assert!(diff <= 1e-5 * scale, "states differ by {diff} (scale {scale})");

        let logits = |m: &ConvNeXtWithMetadata| values(m.forward(images.clone(), metadata.clone()));
        let (a, b) = (logits(&tensors), logits(&channels_last));
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(diff <= 1e-5, "logits differ by {diff}: {a:?} vs {b:?}");
    }
}
