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

/// Writes `tensors` as a PyTorch `torch.save(state_dict)` file: a zip with `archive/data.pkl`
/// (a protocol-2 pickle of a dict of `torch._utils._rebuild_tensor_v2` calls on persistent
/// `FloatStorage`s) and one raw little-endian storage file per tensor.
fn write_pth(path: &std::path::Path, tensors: &[(String, Tensor)]) {
    use std::io::Write;
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend((v as i32).to_le_bytes());
    }
    fn global(p: &mut Vec<u8>, m: &str, n: &str) {
        p.push(b'c');
        p.extend(format!("{m}\n{n}\n").as_bytes());
    }
    let mut pk = vec![0x80, 2, b'}', b'('];
    for (i, (name, t)) in tensors.iter().enumerate() {
        unicode(&mut pk, name);
        global(&mut pk, "torch._utils", "_rebuild_tensor_v2");
        pk.push(b'(');
        pk.push(b'(');
        unicode(&mut pk, "storage");
        global(&mut pk, "torch", "FloatStorage");
        unicode(&mut pk, &i.to_string());
        unicode(&mut pk, "cpu");
        int(&mut pk, t.elem_count());
        pk.extend(b"tQ");
        int(&mut pk, 0);
        pk.push(b'(');
        for &d in t.dims() {
            int(&mut pk, d);
        }
        pk.push(b't');
        pk.push(b'(');
        for &s in t.stride().iter() {
            int(&mut pk, s);
        }
        pk.push(b't');
        pk.push(0x89);
        global(&mut pk, "collections", "OrderedDict");
        pk.extend(b")R");
        pk.extend(b"tR");
    }
    pk.extend(b"u.");
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opt =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("archive/data.pkl", opt).unwrap();
    z.write_all(&pk).unwrap();
    for (i, (_, t)) in tensors.iter().enumerate() {
        z.start_file(format!("archive/data/{i}"), opt).unwrap();
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        z.write_all(&v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>())
            .unwrap();
    }
    z.start_file("archive/version", opt).unwrap();
    z.write_all(b"3\n").unwrap();
    z.finish().unwrap();
}

#[test]
fn loads_pytorch_pickle_checkpoints() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let net = TransformerNet::new(VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let mut tensors: Vec<(String, Tensor)> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    // Old fast-neural-style checkpoints also carry InstanceNorm running stats; they are ignored.
    tensors.push((
        "in1.running_mean".into(),
        Tensor::zeros(32, DType::F32, &dev).unwrap(),
    ));
    let path = tmp("tn.pth");
    write_pth(&path, &tensors);
    let loaded = TransformerNet::load(&path, &dev).unwrap();
    let x = Tensor::rand(0f32, 1f32, (1, 3, 40, 36), &dev).unwrap();
    let a = net.forward(&x).unwrap();
    let b = loaded.forward(&x).unwrap();
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
    assert_eq!(d, 0.0, "weights read from the .pth differ");
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
