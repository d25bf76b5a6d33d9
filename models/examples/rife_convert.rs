//! Converts RIFE 4.2x's PyTorch checkpoint (`flownet.pkl`) to Wick's safetensors weights.
//!
//! Reads it with Candle's pickle reader, keeps IFNet's tensors (drops training-only ones),
//! checks that they build the network, and writes them atomically:
//!
//!     cargo run -p wick-models --example rife_convert -- \
//!         ../shared/weights/rife-4.2x/flownet.pkl models/weights/rife42.safetensors

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use wick_models::rife::{read_pth_state_dict, IfNet};
use wick_models::weights::save_safetensors_atomic;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        return Err("usage: rife_convert FLOWNET.pkl OUT.safetensors".into());
    }
    let (src, dst) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let tensors: HashMap<_, _> = read_pth_state_dict(&src)?.into_iter().collect();
    let params: usize = tensors.values().map(|t| t.elem_count()).sum();
    // Building the network checks every name and shape before anything is written.
    let vb =
        candle_nn::VarBuilder::from_tensors(tensors.clone(), candle_core::DType::F32, &Device::Cpu);
    IfNet::new(vb)?;
    save_safetensors_atomic(&tensors, &dst)?;
    println!(
        "wrote {} tensors, {params} parameters to {}",
        tensors.len(),
        dst.display()
    );
    Ok(())
}
