//! Dropout whose mask comes from its own seed, not from burn's process-wide RNG: a training
//! step's mask is a function of (run seed, step) alone, so it is the same whether the step
//! runs first, after a resume, or while another stage trains beside it (`--jobs`).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// `x` with each element zeroed with probability `p` and the rest scaled by 1 / (1 − p)
/// (inverted dropout, as `burn::nn::Dropout`), the mask drawn from `seed`. Identity when `p`
/// is 0 or the backend records no gradients (inference).
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64, seed: u64) -> Tensor<B, D> {
    let dev = x.device();
    if p <= 0.0 || !B::ad_enabled(&dev) {
        return x;
    }
    let dims = x.dims();
    let mask = dropout_mask(dims.iter().product(), p, seed);
    x * Tensor::<B, D>::from_data(TensorData::new(mask, dims), &dev)
}

/// `n` mask values: 0 with probability `p`, else 1 / (1 − p).
pub fn dropout_mask(n: usize, p: f64, seed: u64) -> Vec<f32> {
    let keep = (1.0 / (1.0 - p)) as f32;
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_repeats_for_a_seed_and_drops_about_p() {
        let a = dropout_mask(10_000, 0.25, 3);
        assert_eq!(a, dropout_mask(10_000, 0.25, 3));
        assert_ne!(a, dropout_mask(10_000, 0.25, 4));
        let dropped = a.iter().filter(|&&v| v == 0.0).count();
        assert!(
            (2300..2700).contains(&dropped),
            "{dropped} of 10000 dropped"
        );
        assert!(a.iter().all(|&v| v == 0.0 || v == (1.0f64 / 0.75) as f32));
    }

    #[test]
    fn inference_and_zero_p_are_the_identity() {
        let dev = Default::default();
        let x = Tensor::<crate::CpuBackend, 2>::ones([3, 4], &dev);
        let y = dropout(x.clone(), 0.5, 1);
        assert_eq!(y.into_data(), x.clone().into_data());
        let z = dropout(
            Tensor::<crate::CpuAutodiff, 2>::from_data(x.into_data(), &dev),
            0.0,
            1,
        );
        assert!(
            z.into_data()
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .all(|&v| v == 1.0)
        );
    }

    #[test]
    fn training_drops_by_the_seeded_mask() {
        let dev = Default::default();
        let x = Tensor::<crate::CpuAutodiff, 2>::ones([4, 8], &dev);
        let y = dropout(x, 0.5, 9).into_data().to_vec::<f32>().unwrap();
        assert_eq!(y, dropout_mask(32, 0.5, 9));
    }
}
