//! Device selection for the `device` param (`auto`, `cpu`, `cuda`, `metal`).

use candle_core::Device;

use crate::weights::ModelError;

/// The device names the `device` param accepts.
pub const DEVICE_CHOICES: [&str; 4] = ["auto", "cpu", "cuda", "metal"];

/// Resolves a `device` param value to a Candle device, with a clear error when the requested
/// device was not compiled in or is not present.
pub fn select_device(name: &str) -> Result<Device, ModelError> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
        "cuda" => {
            if !cfg!(feature = "cuda") {
                return Err(ModelError::Device(
                    "device=cuda requested, but this Wick build has no CUDA support \
                     (rebuild with `--features cuda`, which needs nvcc)"
                        .into(),
                ));
            }
            Device::new_cuda(0)
                .map_err(|e| ModelError::Device(format!("device=cuda: no usable CUDA GPU: {e}")))
        }
        "metal" => {
            if !cfg!(feature = "metal") {
                return Err(ModelError::Device(
                    "device=metal requested, but this Wick build has no Metal support \
                     (rebuild with `--features metal` on macOS)"
                        .into(),
                ));
            }
            Device::new_metal(0)
                .map_err(|e| ModelError::Device(format!("device=metal: no usable Metal GPU: {e}")))
        }
        other => Err(ModelError::Device(format!(
            "unknown device '{other}' (expected one of auto, cpu, cuda, metal)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_auto_work_and_missing_backends_say_why() {
        assert!(select_device("cpu").unwrap().is_cpu());
        assert!(select_device("auto").is_ok());
        if !cfg!(feature = "cuda") {
            let e = select_device("cuda").unwrap_err().to_string();
            assert!(e.contains("no CUDA support"), "{e}");
        }
        assert!(select_device("tpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device"));
    }
}
