"""The reference model as published with the single-model release (timm
convnext_base in features_only mode + CBAM + metadata MLP + classifier), and
the perturbed weights the fixtures and benchmarks use. Needs torch, timm and
numpy only, so the benchmark scripts run where Pillow or pytorch-grad-cam
are not installed.
"""

import numpy as np
import timm
import torch
import torch.nn as nn


class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        self.channel_attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels // reduction, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        x = x * self.channel_attention(x)
        avg = torch.mean(x, dim=1, keepdim=True)
        mx, _ = torch.max(x, dim=1, keepdim=True)
        return x * self.spatial_attention(torch.cat([avg, mx], dim=1))


class ConvNeXtWithMetadata(nn.Module):
    def __init__(self, depths, dims, num_classes=14, metadata_dim=8):
        super().__init__()
        self.convnext_backbone = timm.create_model(
            "convnext_base", pretrained=False, features_only=True, num_classes=0,
            depths=depths, dims=dims,
        )
        channels = self.convnext_backbone.feature_info.channels()[-1]
        self.cbam = CBAM(channels)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.metadata_fc = nn.Sequential(
            nn.Linear(metadata_dim, 64), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3),
        )
        self.classifier = nn.Linear(channels + 32, num_classes)

    def forward(self, x, metadata):
        features = self.cbam(self.convnext_backbone(x)[-1])
        pooled = torch.flatten(self.global_pool(features), 1)
        return self.classifier(torch.cat([pooled, self.metadata_fc(metadata)], dim=1))


def perturbed_model(depths, dims, seed):
    """A model whose every block changes the result (timm's layer scale of 1e-6 would hide bugs)."""
    torch.manual_seed(seed)
    model = ConvNeXtWithMetadata(depths, dims)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + 0.25 * torch.randn_like(p))
            elif p.dim() == 1 and ("norm" in name or "stem_1" in name or "downsample.0" in name):
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
                else:
                    p.copy_(0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / np.sqrt(fan_in))
        # Balance the two branches so that the image, not the unscaled age,
        # decides the logits, and keep them where sigmoid is not saturated.
        model.metadata_fc[0].weight[:, 1] /= 50.0
        channels = model.classifier.in_features - 32
        model.classifier.weight[:, :channels] *= 12.0
        model.classifier.weight[:, channels:] *= 0.3
    return model.eval()
