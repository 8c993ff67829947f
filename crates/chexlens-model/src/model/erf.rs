//! The rational erf, and the exact-form GELU and its derivative of one
//! value built on it: the arithmetic the fused CPU kernels (`cpu_kernels`)
//! and the tensor-level GELU (`gelu`) share.

/// erf(x) ~= x * P(x^2) / Q(x^2) on [-4, 4], fitted by
/// `tools/reference/fit_erf.py`; |erf| rounds to 1 in f32 beyond 4.
const ERF_P: [f32; 7] = [
    1.128_378_6,
    2.133_614_6e-1,
    5.235_01e-2,
    4.264_293_8e-3,
    1.545_336_1e-4,
    -1.979_676_1e-6,
    1.911_170_6e-8,
];
const ERF_Q: [f32; 5] = [1.0, 5.224_145e-1, 1.205_524_4e-1, 1.549_652_9e-2, 1.090_038_4e-3];

/// The rational erf; Q >= 1 on the whole range, so the division is safe.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let t = x * x;
    let p = ERF_P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let q = ERF_Q.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    (x * p / q).clamp(-1.0, 1.0)
}

/// Exact-form GELU of one value, with the rational erf.
#[inline(always)]
pub fn gelu_value(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU's derivative of one value, Φ(x) + x φ(x), with the rational erf.
#[inline(always)]
pub fn gelu_derivative_value(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2);
    cdf + x * pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 to ~1e-13: its Maclaurin series below 3, the continued
    /// fraction of erfc above.
    fn erf_f64(x: f64) -> f64 {
        let a = x.abs();
        let value = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
            let mut fraction = a;
            for k in (1..200).rev() {
                fraction = a + (k as f64 / 2.0) / fraction;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / fraction
        };
        value.copysign(x)
    }

    #[test]
    fn reference_erf_is_exact_enough() {
        // Tabulated values (Abramowitz and Stegun, table 7.1).
        for (x, expected) in [(0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265_0)] {
            assert!((erf_f64(x) - expected).abs() < 1e-9, "erf({x}) = {}", erf_f64(x));
        }
        assert!(
            (erf_f64(3.0) - erf_f64(2.999_999_999)).abs() < 1e-9,
            "the two branches meet"
        );
    }

    #[test]
    fn rational_erf_is_within_5e_7_of_erf() {
        let mut worst: f64 = 0.0;
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            worst = worst.max((erf(x) as f64 - erf_f64(x as f64)).abs());
        }
        assert!(worst <= 5e-7, "largest error {worst:e}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(-1e30), -1.0);
    }

    #[test]
    fn gelu_matches_the_exact_form() {
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4;
            let exact = 0.5 * x as f64 * (1.0 + erf_f64(x as f64 / std::f64::consts::SQRT_2));
            let error = (gelu_value(x) as f64 - exact).abs();
            assert!(error <= 5e-7 * (1.0 + x.abs() as f64), "gelu({x}): error {error:e}");
        }
    }

    #[test]
    fn gelu_derivative_matches_the_exact_form() {
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4;
            let xf = x as f64;
            let exact = 0.5 * (1.0 + erf_f64(xf / std::f64::consts::SQRT_2))
                + xf * (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let error = (gelu_derivative_value(x) as f64 - exact).abs();
            assert!(error <= 1e-6, "gelu'({x}): error {error:e}");
        }
    }
}
