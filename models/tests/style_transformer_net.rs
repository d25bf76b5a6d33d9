//! The fast-neural-style TransformerNet loads checkpoints with the standard pytorch-examples key
//! names, from safetensors and from PyTorch pickles, and runs at any frame size.

use std::collections::BTreeSet;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use wick_models::style::TransformerNet;

/// The state-dict keys of pytorch/examples `fast_neural_style` TransformerNet (InstanceNorm
/// running stats, which the example deletes on load, excluded).
fn standard_keys() -> BTreeSet<String> {
    let mut k = BTreeSet::new();
    let mut conv = |p: &str| {
        k.insert(format!("{p}.conv2d.weight"));
        k.insert(format!("{p}.conv2d.bias"));
    };
    for p in ["conv1", "conv2", "conv3", "deconv1", "deconv2", "deconv3"] {
        conv(p);
    }
    for i in 1..=5 {
        conv(&format!("res{i}.conv1"));
        conv(&format!("res{i}.conv2"));
    }
    for p in ["in1", "in2", "in3", "in4", "in5"]
        .into_iter()
        .map(String::from)
        .chain((1..=5).flat_map(|i| [format!("res{i}.in1"), format!("res{i}.in2")]))
    {
        k.insert(format!("{p}.weight"));
        k.insert(format!("{p}.bias"));
    }
    k
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wick-style-tn-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn trains_into_and_loads_standard_keys() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let net = TransformerNet::new(VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let keys: BTreeSet<String> = vm.data().lock().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        standard_keys(),
        "key layout differs from pytorch-examples"
    );

    let path = tmp("tn.safetensors");
    vm.save(&path).unwrap();
    let loaded = TransformerNet::load(&path, &dev).unwrap();
    let x = Tensor::rand(0f32, 1f32, (1, 3, 53, 67), &dev).unwrap();
    let a = net.forward(&x).unwrap();
    let b = loaded.forward(&x).unwrap();
    assert_eq!(a.dims(), &[1, 3, 53, 67]);
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
}

#[test]
fn missing_or_bad_checkpoint_is_a_clear_error() {
    let dev = Device::Cpu;
    let e = TransformerNet::load(&tmp("nope.pth"), &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
    // A safetensors file with only some of the keys.
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    vb.pp("conv1")
        .pp("conv2d")
        .get_with_hints((32, 3, 9, 9), "weight", candle_nn::init::ZERO)
        .unwrap();
    let p = tmp("partial.safetensors");
    vm.save(&p).unwrap();
    let e = TransformerNet::load(&p, &dev).unwrap_err().to_string();
    assert!(e.contains("TransformerNet"), "{e}");
}
