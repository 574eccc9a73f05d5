//! Finding a usable GPU at run time, and where GPU backends keep their compiled kernels.
//!
//! The CUDA backend loads the NVIDIA driver and NVRTC (its kernel compiler) when first used and
//! panics when either is missing, so they are looked for here first: `--backend auto` can then
//! fall back to the CPU and say why, and an NVRTC that is installed but not on the library path
//! (CUDA's own folders, pip's `nvidia-*` wheels) is found and loaded by its full path.

use std::path::{Path, PathBuf};

/// The CUDA device that answered, or why none did.
pub type Probe = Result<String, String>;

/// Looks for the driver, a GPU and NVRTC, then runs one kernel; `Ok` holds the GPU's name.
#[cfg(feature = "cuda")]
pub fn probe_cuda() -> Probe {
    use cudarc::driver::CudaContext;

    // SAFETY: only tries to load the shared library; no CUDA call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("no NVIDIA driver found (libcuda.so did not load)".into());
    }
    let context = CudaContext::new(0)
        .map_err(|e| format!("the NVIDIA driver loaded but no GPU opened ({e})"))?;
    let name = context.name().unwrap_or_else(|_| "an NVIDIA GPU".into());
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        let searched = nvrtc_search_dirs();
        match find_nvrtc(&searched) {
            Some(path) => preload(&path)?,
            None => {
                return Err(format!(
                    "NVRTC (libnvrtc.so, the CUDA kernel compiler) is not on the library path nor in {}; \
                     install CUDA's NVRTC (or `pip install nvidia-cuda-nvrtc`) or set LD_LIBRARY_PATH to its folder",
                    if searched.is_empty() {
                        "any CUDA or pip folder".to_owned()
                    } else {
                        searched
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
        }
    }
    configure_kernel_cache();
    if run_test_kernel() {
        Ok(name)
    } else {
        Err(format!("{name} did not run a test kernel"))
    }
}

#[cfg(not(feature = "cuda"))]
pub fn probe_cuda() -> Probe {
    Err("this build has no CUDA backend (built with --no-default-features)".into())
}

/// Loads NVRTC by its full path. Later loads by library name (what the CUDA backend does) then
/// find it already loaded, since the dynamic loader matches names against loaded libraries.
#[cfg(feature = "cuda")]
fn preload(path: &Path) -> Result<(), String> {
    // SAFETY: NVRTC's initialisers have no preconditions; the library is never unloaded.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        format!(
            "found NVRTC at {} but it did not load ({e})",
            path.display()
        )
    })?;
    std::mem::forget(library);
    // SAFETY: as above.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        eprintln!("using NVRTC from {}", path.display());
        Ok(())
    } else {
        Err(format!(
            "loaded {} but the CUDA backend still cannot find NVRTC by name; set LD_LIBRARY_PATH={}",
            path.display(),
            path.parent().unwrap_or(path).display()
        ))
    }
}

/// Runs one small kernel behind `catch_unwind`, its panic message silenced.
#[cfg(feature = "cuda")]
fn run_test_kernel() -> bool {
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

/// Folders where CUDA installs and pip's `nvidia-*` wheels put NVRTC, those that exist.
pub fn nvrtc_search_dirs() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"]
        .iter()
        .filter_map(|var| std::env::var_os(var).map(PathBuf::from))
        .collect();
    roots.extend(children(Path::new("/usr/local"), |n| n.starts_with("cuda")));
    roots.push("/opt/cuda".into());
    let mut dirs = Vec::new();
    for root in roots {
        dirs.push(root.join("lib64"));
        dirs.push(root.join("lib"));
        dirs.extend(children(&root.join("targets"), |_| true).map(|t| t.join("lib")));
    }
    // Python environments: a virtualenv or conda env, the user's and the system's.
    let mut lib_dirs: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(|var| std::env::var_os(var).map(|p| PathBuf::from(p).join("lib")))
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        lib_dirs.push(PathBuf::from(home).join(".local/lib"));
    }
    lib_dirs.extend(["/usr/local/lib", "/usr/lib"].map(PathBuf::from));
    for lib in lib_dirs {
        for python in children(&lib, |n| n.starts_with("python3")) {
            for packages in ["site-packages", "dist-packages"] {
                let nvidia = python.join(packages).join("nvidia");
                dirs.extend(children(&nvidia, |_| true).map(|p| p.join("lib")));
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs.dedup();
    dirs
}

/// The first `libnvrtc.so.<major>` in `dirs`, newest major first within a folder.
pub fn find_nvrtc(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().find_map(|dir| {
        let mut found: Vec<(u32, PathBuf)> = children(dir, |n| n.starts_with("libnvrtc.so."))
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?;
                let major = name.strip_prefix("libnvrtc.so.")?.split('.').next()?;
                Some((major.parse().ok()?, path))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, path)| path)
    })
}

/// Entries of `dir` whose file name passes `keep`, sorted; none when `dir` cannot be read.
fn children(dir: &Path, keep: impl Fn(&str) -> bool) -> impl Iterator<Item = PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&keep))
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths.into_iter()
}

/// Where compiled GPU kernels and autotune results are kept between runs:
/// `$DGA_KERNEL_CACHE`, else the user's cache folder.
pub fn kernel_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DGA_KERNEL_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dga-detector").join("kernels")
}

/// Points cubecl's compilation (PTX) and autotune caches at [`kernel_cache_dir`], so a second
/// run skips the minutes of kernel compilation and autotuning the first one spent. Must run
/// before any GPU work; a later call (or a `cubecl.toml` read first) leaves the config as it is.
#[cfg(feature = "gpu-cache")]
pub fn configure_kernel_cache() {
    use cubecl_runtime::config::cache::CacheConfig;
    use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
    use std::sync::Once;

    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = kernel_cache_dir();
        if std::fs::create_dir_all(&dir).is_err() {
            eprintln!(
                "cannot create {}; GPU kernels are compiled afresh each run",
                dir.display()
            );
            return;
        }
        let mut config = CubeClRuntimeConfig::default();
        config.compilation.cache = Some(CacheConfig::File(dir.clone()));
        config.autotune.cache = CacheConfig::File(dir.clone());
        // `set` refuses (panics) once the config has been read; then the defaults stay.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let set = std::panic::catch_unwind(|| CubeClRuntimeConfig::set(config)).is_ok();
        std::panic::set_hook(hook);
        if set {
            eprintln!("GPU kernel cache: {}", dir.display());
        }
    });
}

#[cfg(not(feature = "gpu-cache"))]
pub fn configure_kernel_cache() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_nvrtc_in_the_first_folder_that_has_one() {
        let root = std::env::temp_dir().join(format!("nvrtc-search-{}", std::process::id()));
        let (empty, cuda, pip) = (root.join("empty"), root.join("cuda"), root.join("pip"));
        for dir in [&empty, &cuda, &pip] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for file in [
            cuda.join("libnvrtc.so.12"),
            cuda.join("libnvrtc.so.13.0.88"),
            cuda.join("libnvrtc-builtins.so.13"),
            pip.join("libnvrtc.so.13"),
        ] {
            std::fs::write(file, b"").unwrap();
        }
        let dirs = [empty.clone(), cuda.clone(), pip.clone()];
        assert_eq!(find_nvrtc(&dirs), Some(cuda.join("libnvrtc.so.13.0.88")));
        assert_eq!(find_nvrtc(&dirs[2..]), Some(pip.join("libnvrtc.so.13")));
        assert_eq!(find_nvrtc(&dirs[..1]), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
