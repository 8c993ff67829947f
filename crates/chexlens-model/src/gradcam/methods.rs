//! pytorch-grad-cam's gradient family on one layer's activation `A`
//! (`[HW, C]`) and each label's gradient `G` (`[k, HW, C]`), each as its
//! class defines `get_cam_weights` or `get_cam_image` (version 1.5.7).
//! ReLU and scaling come after, as `BaseCAM` applies them.

use super::CamMethod;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

/// A method's maps before ReLU, or the matrices whose first principal
/// component makes them (the eigen methods), which `projection` finishes
/// off the device.
pub enum Unrectified {
    /// `[k, HW]`.
    Maps(Tensor<2>),
    /// `[m, HW, C]`, one per map (m = 1 for EigenCAM, which has no label).
    Projections(Tensor<3>),
}

/// `method`'s maps from `activation` and (for all but EigenCAM) `gradients`.
pub fn unrectified(method: CamMethod, activation: Tensor<2>, gradients: Option<Tensor<3>>) -> Unrectified {
    let a = activation.clone().unsqueeze::<3>();
    let weighted = |weights: Tensor<3>| {
        let [k, _, c] = weights.dims();
        weights.reshape([k, c]).matmul(activation.clone().transpose())
    };
    let channel_sum = |x: Tensor<3>| {
        let [k, hw, _] = x.dims();
        x.sum_dim(2).reshape([k, hw])
    };
    let Some(g) = gradients else {
        return Unrectified::Projections(a);
    };
    Unrectified::Maps(match method {
        CamMethod::GradCam => weighted(g.mean_dim(1)),
        CamMethod::HiResCam => channel_sum(g * a),
        CamMethod::GradCamElementWise => channel_sum(relu(g * a)),
        CamMethod::LayerCam => channel_sum(relu(g) * a),
        CamMethod::XGradCam => {
            let sum = a.clone().sum_dim(1).add_scalar(1e-7);
            weighted((g * a / sum).sum_dim(1))
        }
        CamMethod::GradCamPlusPlus => {
            let sum = a.sum_dim(1);
            let squared = g.clone() * g.clone();
            let cubed = squared.clone() * g.clone();
            let alpha = squared.clone() / (squared * 2.0 + sum * cubed).add_scalar(1e-6);
            let alpha = alpha.mask_fill(g.clone().equal_elem(0.0), 0.0);
            weighted((relu(g) * alpha).sum_dim(1))
        }
        CamMethod::EigenGradCam => return Unrectified::Projections(g * a),
        CamMethod::EigenCam => return Unrectified::Projections(a),
    })
}

/// The Gram matrices `M Mᵀ` (`[m, HW, HW]`) of the position-centred
/// matrices, computed on the device: the first principal component's
/// projection is read off them (`projection`) with far less to read back.
pub fn centred_grams(matrices: Tensor<3>) -> Tensor<3> {
    let centred = matrices.clone() - matrices.mean_dim(1);
    centred.clone().matmul(centred.swap_dims(1, 2))
}

/// `get_2d_projection`: the centred matrix's projection on its first
/// right singular vector, `M v₁ = σ₁ u₁`, from its Gram matrix `gram`
/// (`n x n`, row-major) by power iteration in f64. The SVD leaves the
/// sign open (pytorch-grad-cam keeps whatever LAPACK returns); it is set
/// here so that the value largest in magnitude is positive, the rule of
/// pytorch-grad-cam's `get_2d_projection_with_sign_correction`.
pub fn projection(gram: &[f32], n: usize) -> Vec<f32> {
    let g: Vec<f64> = gram.iter().map(|&v| v as f64).collect();
    let row = |i: usize| &g[i * n..(i + 1) * n];
    // Start from the column of the largest diagonal entry: never orthogonal
    // to u₁ unless the matrix is zero (the all-ones vector is in the null
    // space, since the positions are centred).
    let Some(start) = (0..n).max_by(|&a, &b| g[a * n + a].total_cmp(&g[b * n + b])) else {
        return Vec::new();
    };
    let mut u: Vec<f64> = row(start).to_vec();
    let mut eigenvalue = 0.0;
    for _ in 0..5000 {
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return vec![0.0; n];
        }
        u.iter_mut().for_each(|v| *v /= norm);
        let next: Vec<f64> = (0..n)
            .map(|i| row(i).iter().zip(&u).map(|(a, b)| a * b).sum())
            .collect();
        let rayleigh: f64 = next.iter().zip(&u).map(|(a, b)| a * b).sum();
        let converged = (rayleigh - eigenvalue).abs() <= 1e-13 * rayleigh.abs();
        eigenvalue = rayleigh;
        u = next;
        if converged {
            break;
        }
    }
    let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    let sigma = eigenvalue.max(0.0).sqrt();
    let mut projection: Vec<f64> = u.iter().map(|v| v / norm * sigma).collect();
    let (min, max) = projection
        .iter()
        .fold((0f64, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if min.abs() > max.abs() {
        projection.iter_mut().for_each(|v| *v = -*v);
    }
    projection.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The projection of a rank-one centred matrix is its column factor,
    /// scaled by the row factor's norm, signed to its largest magnitude.
    #[test]
    fn projection_of_a_rank_one_matrix() {
        let u = [3.0f64, -1.0, -1.5, -0.5];
        let v = [0.6f64, 0.8];
        let n = u.len();
        let m: Vec<f64> = u.iter().flat_map(|a| v.iter().map(move |b| a * b)).collect();
        let gram: Vec<f32> = (0..n)
            .flat_map(|i| {
                let m = &m;
                (0..n).map(move |j| (m[i * 2] * m[j * 2] + m[i * 2 + 1] * m[j * 2 + 1]) as f32)
            })
            .collect();
        let p = projection(&gram, n);
        for (got, want) in p.iter().zip(u) {
            assert!((*got as f64 - want).abs() < 1e-5, "{p:?}");
        }
        assert_eq!(projection(&[0.0; 4], 2), vec![0.0; 2]);
    }
}
