//! Backend choice: each binary names its backends here, once, and jobs run generic over them.

use anyhow::{Result, bail};
use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::AutodiffBackend;

/// The CPU backend `cpu` and `auto` pick: Flex measured faster than NdArray here (see README).
pub type CpuBackend = Flex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// CUDA when built with `--features cuda` and a GPU answers, else the CPU.
    Auto,
    /// NVIDIA GPU through burn-cuda (build with `--features cuda`).
    Cuda,
    /// Any GPU through burn-wgpu (build with `--features wgpu`).
    Wgpu,
    /// The fastest CPU backend (Flex).
    Cpu,
    /// Burn's Flex CPU backend.
    Flex,
    /// Burn's NdArray CPU backend.
    Ndarray,
}

/// Work that runs on whichever backend is chosen at run time.
pub trait Job {
    type Output;
    fn run<B: AutodiffBackend>(
        self,
        device: B::Device,
        backend_name: &'static str,
    ) -> Result<Self::Output>;
}

/// Runs `job` on the backend `choice` names.
pub fn dispatch<J: Job>(choice: BackendArg, job: J) -> Result<J::Output> {
    match choice {
        BackendArg::Auto => {
            if cuda_available() {
                dispatch(BackendArg::Cuda, job)
            } else {
                dispatch(BackendArg::Cpu, job)
            }
        }
        BackendArg::Cpu | BackendArg::Flex => {
            job.run::<Autodiff<CpuBackend>>(Default::default(), "cpu (flex)")
        }
        BackendArg::Ndarray => job.run::<Autodiff<NdArray>>(Default::default(), "ndarray"),
        BackendArg::Cuda => run_cuda(job),
        BackendArg::Wgpu => run_wgpu(job),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<J: Job>(job: J) -> Result<J::Output> {
    if !cuda_available() {
        bail!("no CUDA device answered (is the NVIDIA driver loaded?); use --backend cpu");
    }
    job.run::<Autodiff<burn::backend::Cuda>>(Default::default(), "cuda")
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<J: Job>(_job: J) -> Result<J::Output> {
    bail!(
        "this build has no CUDA backend; rebuild with `cargo run --release -p trainer --features cuda`"
    )
}

#[cfg(feature = "wgpu")]
fn run_wgpu<J: Job>(job: J) -> Result<J::Output> {
    job.run::<Autodiff<burn::backend::Wgpu>>(Default::default(), "wgpu")
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<J: Job>(_job: J) -> Result<J::Output> {
    bail!(
        "this build has no wgpu backend; rebuild with `cargo run --release -p trainer --features wgpu`"
    )
}

/// Whether a CUDA device can run a kernel. The CUDA backend panics when the driver is missing,
/// so the probe runs behind `catch_unwind` with the panic message silenced.
#[cfg(feature = "cuda")]
fn cuda_available() -> bool {
    use burn::backend::Cuda;
    use burn::tensor::Tensor;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ok = std::panic::catch_unwind(|| {
        let device = Default::default();
        Tensor::<Cuda, 1>::ones([4], &device).sum().into_scalar() == 4.0
    })
    .unwrap_or(false);
    std::panic::set_hook(hook);
    ok
}

#[cfg(not(feature = "cuda"))]
fn cuda_available() -> bool {
    false
}
