//! Backend choice: each binary names its backends here, once, and jobs run generic over them.

use anyhow::{Result, bail};
use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::{AutodiffBackend, Backend};
use model_core::{Detector, Shapes};

use crate::gpu;

/// The CPU backend `cpu` and `auto` pick: Flex measured faster than NdArray here (docs/results.md).
pub type CpuBackend = Flex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// CUDA when a GPU answers, else the CPU (and says why).
    Auto,
    /// NVIDIA GPU through burn-cuda.
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
        BackendArg::Auto => match gpu::probe_cuda() {
            Ok(gpu) => {
                eprintln!("backend: cuda ({gpu})");
                on_cuda(job)
            }
            Err(why) => {
                eprintln!("backend: cpu (not using CUDA: {why})");
                dispatch(BackendArg::Cpu, job)
            }
        },
        BackendArg::Cpu | BackendArg::Flex => {
            job.run::<Autodiff<CpuBackend>>(Default::default(), "cpu (flex)")
        }
        BackendArg::Ndarray => job.run::<Autodiff<NdArray>>(Default::default(), "ndarray"),
        BackendArg::Cuda => run_cuda(job),
        BackendArg::Wgpu => run_wgpu(job),
    }
}

/// The float type a GPU backend computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    F32,
    F16,
    Bf16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }
}

/// [`dispatch`] with a float type; half precision is offered on CUDA only.
pub fn dispatch_with<J: Job>(
    choice: BackendArg,
    precision: Precision,
    job: J,
) -> Result<J::Output> {
    if precision == Precision::F32 {
        return dispatch(choice, job);
    }
    if !matches!(choice, BackendArg::Auto | BackendArg::Cuda) {
        bail!("--precision {} needs the CUDA backend", precision.name());
    }
    match gpu::probe_cuda() {
        Ok(gpu) => eprintln!("backend: cuda ({gpu}), {}", precision.name()),
        Err(why) => bail!("--precision {} needs CUDA: {why}", precision.name()),
    }
    on_cuda_half(precision, job)
}

#[cfg(feature = "cuda")]
fn on_cuda_half<J: Job>(precision: Precision, job: J) -> Result<J::Output> {
    use burn::backend::Cuda;
    use burn::tensor::{bf16, f16};
    match precision {
        Precision::F16 => job.run::<Autodiff<Cuda<f16>>>(Default::default(), "cuda"),
        _ => job.run::<Autodiff<Cuda<bf16>>>(Default::default(), "cuda"),
    }
}

#[cfg(not(feature = "cuda"))]
fn on_cuda_half<J: Job>(_: Precision, _job: J) -> Result<J::Output> {
    bail!("this build has no CUDA backend (built with --no-default-features)")
}

/// How batches are shaped on the backend `run` named (see [`Shapes`]): GPU backends compile
/// kernels per shape, so they get a few fixed ones.
pub fn shapes_for(backend_name: &str) -> Shapes {
    if backend_name.starts_with("cuda") || backend_name.starts_with("wgpu") {
        Shapes::Fixed
    } else {
        Shapes::Tight
    }
}

/// Sequences per forward pass when scoring on a GPU: enough rows to fill it, one shape per
/// length bucket.
pub const GPU_SCORE_BATCH: usize = 1024;

/// Sets a detector up for the backend `run` named: fixed shapes and big batches on a GPU.
pub fn fit_detector<B: Backend>(detector: &mut Detector<B>, backend_name: &str) {
    if shapes_for(backend_name) == Shapes::Fixed {
        (detector.shapes, detector.batch_size) = (Shapes::Fixed, GPU_SCORE_BATCH);
    }
}

fn run_cuda<J: Job>(job: J) -> Result<J::Output> {
    match gpu::probe_cuda() {
        Ok(gpu) => eprintln!("backend: cuda ({gpu})"),
        Err(why) => bail!("cannot use CUDA: {why}; use --backend cpu"),
    }
    on_cuda(job)
}

#[cfg(feature = "cuda")]
fn on_cuda<J: Job>(job: J) -> Result<J::Output> {
    job.run::<Autodiff<burn::backend::Cuda>>(Default::default(), "cuda")
}

/// Unreachable in practice: the probe answers no in such a build.
#[cfg(not(feature = "cuda"))]
fn on_cuda<J: Job>(_job: J) -> Result<J::Output> {
    bail!("this build has no CUDA backend (built with --no-default-features)")
}

#[cfg(feature = "wgpu")]
fn run_wgpu<J: Job>(job: J) -> Result<J::Output> {
    gpu::configure_kernel_cache();
    job.run::<Autodiff<burn::backend::Wgpu>>(Default::default(), "wgpu")
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<J: Job>(_job: J) -> Result<J::Output> {
    bail!(
        "this build has no wgpu backend; rebuild with `cargo run --release -p trainer --features wgpu`"
    )
}
