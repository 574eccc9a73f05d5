//! GELU for inference on the CPU backends, computed in place on the tensor's own memory.
//!
//! Burn's CPU backends evaluate GELU's error function one element at a time through a libm
//! call; that was a third of all scoring time on the CPU, natively and in wasm (`perf` on
//! `predict`). Here the error function is Abramowitz and Stegun's formula 7.1.28 (Handbook of
//! Mathematical Functions, 1964): plain arithmetic, no branches and no calls, so the compiler
//! vectorises the loop. Its absolute error is under 3e-7, below what the scores show.

use burn::prelude::*;
use burn::tensor::TensorData;

/// The coefficients a1..a6 of formula 7.1.28:
/// `erfc(z) ≈ 1 / (1 + a1 z + a2 z² + ... + a6 z⁶)^16` for z ≥ 0.
const A: [f32; 6] = [
    0.070_523_08,
    0.042_282_01,
    0.009_270_527,
    0.000_152_014_3,
    0.000_276_567_2,
    0.000_043_063_8,
];

/// Whether GELU may be computed in host memory on this backend: only on the CPU backends,
/// where a tensor's values already live there (a GPU backend would pay a round trip, and on
/// WebGPU could not read back synchronously at all).
pub fn on_host<B: Backend>(device: &B::Device) -> bool {
    !B::ad_enabled(device) && matches!(B::name(device).as_str(), "flex" | "ndarray")
}

/// `x · Φ(x)`, Φ the standard normal distribution function, as Burn's exact GELU.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let device = x.device();
    let data = x.into_data();
    let shape = data.shape.clone();
    let mut values: Vec<f32> = data.into_vec().expect("the CPU backends score in f32");
    values.iter_mut().for_each(|v| *v = gelu_one(*v));
    Tensor::from_data(TensorData::new(values, shape), &device)
}

/// One value; branch-free so that the loop over a tensor vectorises.
#[inline]
fn gelu_one(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let poly = 1.0 + z * (A[0] + z * (A[1] + z * (A[2] + z * (A[3] + z * (A[4] + z * A[5])))));
    let p2 = poly * poly;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    // Φ(-|x|) = erfc(|x| / √2) / 2; past |x| ≈ 40 the power overflows to infinity and this is 0.
    let lower_tail = 0.5 / (p8 * p8);
    let phi = if x >= 0.0 {
        1.0 - lower_tail
    } else {
        lower_tail
    };
    x * phi
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn matches_burns_exact_gelu() {
        let xs: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 / 1000.0).collect();
        let device = Default::default();
        let exact = burn::tensor::activation::gelu(Tensor::<NdArray, 1>::from_floats(
            xs.as_slice(),
            &device,
        ));
        let exact: Vec<f32> = exact.into_data().to_vec().unwrap();
        for (x, want) in xs.iter().zip(exact) {
            let got = gelu_one(*x);
            assert!((got - want).abs() < 1e-6, "gelu({x}) = {got}, exact {want}");
        }
        assert!(gelu_one(f32::NAN).is_nan());
    }

    #[test]
    fn only_the_cpu_backends_without_autodiff_compute_on_the_host() {
        let device = Default::default();
        assert!(on_host::<NdArray>(&device));
        assert!(!on_host::<burn::backend::Autodiff<NdArray>>(&device));
    }

    #[test]
    fn keeps_the_shape() {
        let x = Tensor::<NdArray, 3>::ones([2, 3, 4], &Default::default());
        assert_eq!(gelu(x).dims(), [2, 3, 4]);
    }
}
