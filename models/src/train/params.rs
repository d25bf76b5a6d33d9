//! Trainable parameters with deterministic initialisation, and the small layer helpers the
//! training networks are built from.
//!
//! Candle's `VarMap` initialises on the CPU from the thread RNG, which breaks "same seed, same
//! run"; [`ParamStore`] draws every initial value from a seeded ChaCha stream instead, keeps the
//! variables in name order (so optimiser state lines up across runs), and can instead be built
//! from loaded tensors for inference or resume.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::ops::{self, Conv2dParams, ConvTranspose2dParams};

/// How a new parameter is initialised.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Uniform in ±1/sqrt(fan_in) (PyTorch's default for conv/linear weights and biases).
    FanInUniform(usize),
    /// Normal with this standard deviation (DCGAN uses 0.02).
    Normal(f64),
    Zeros,
    Ones,
}

/// Named trainable variables.
pub struct ParamStore {
    vars: BTreeMap<String, Var>,
    rng: ChaCha8Rng,
    loaded: Option<HashMap<String, Tensor>>,
    device: Device,
}

impl ParamStore {
    /// New parameters drawn from `seed`.
    pub fn new(seed: u64, device: &Device) -> Self {
        ParamStore {
            vars: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            loaded: None,
            device: device.clone(),
        }
    }

    /// Parameters taken from `tensors` (by name, shape-checked) instead of drawn.
    pub fn from_tensors(tensors: HashMap<String, Tensor>, device: &Device) -> Self {
        let mut p = Self::new(0, device);
        p.loaded = Some(tensors);
        p
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameter `name` with `shape`, created on first use.
    pub fn get(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        if let Some(v) = self.vars.get(name) {
            return Ok(v.as_tensor().clone());
        }
        let t = match &self.loaded {
            Some(m) => {
                let t = m.get(name).ok_or_else(|| {
                    candle_core::Error::Msg(format!("model file has no tensor '{name}'"))
                })?;
                if t.dims() != shape {
                    candle_core::bail!(
                        "tensor '{name}' has shape {:?}, the network expects {shape:?}",
                        t.dims()
                    );
                }
                t.to_dtype(DType::F32)?.to_device(&self.device)?
            }
            None => {
                let n: usize = shape.iter().product();
                let data: Vec<f32> = match init {
                    Init::FanInUniform(fan_in) => {
                        let b = 1.0 / (fan_in.max(1) as f32).sqrt();
                        (0..n).map(|_| self.rng.gen_range(-b..b)).collect()
                    }
                    Init::Normal(std) => {
                        let d = Normal::new(0.0, std)
                            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                        (0..n).map(|_| d.sample(&mut self.rng) as f32).collect()
                    }
                    Init::Zeros => vec![0.0; n],
                    Init::Ones => vec![1.0; n],
                };
                Tensor::from_vec(data, shape, &self.device)?
            }
        };
        let v = Var::from_tensor(&t)?;
        let out = v.as_tensor().clone();
        self.vars.insert(name.to_string(), v);
        Ok(out)
    }

    /// All variables, in name order.
    pub fn vars(&self) -> &BTreeMap<String, Var> {
        &self.vars
    }

    /// Current values by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every variable from `src` (names and shapes must match).
    pub fn set_from(&self, src: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        for (name, v) in &self.vars {
            let key = format!("{prefix}{name}");
            let t = src.get(&key).ok_or_else(|| {
                candle_core::Error::Msg(format!("checkpoint has no tensor '{key}'"))
            })?;
            if t.dims() != v.dims() {
                candle_core::bail!(
                    "checkpoint tensor '{key}' has shape {:?}, expected {:?}",
                    t.dims(),
                    v.dims()
                );
            }
            v.set(&t.to_device(&self.device)?)?;
        }
        Ok(())
    }

    /// Overwrites the variables named in `names` from `src` (each must exist in both, with
    /// the same shape).
    pub fn set_some(&self, src: &HashMap<String, Tensor>, names: &[String]) -> Result<()> {
        for name in names {
            let v = self
                .vars
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no parameter '{name}'")))?;
            let t = src
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor '{name}'")))?;
            if t.dims() != v.dims() {
                candle_core::bail!(
                    "tensor '{name}' has shape {:?}, expected {:?}",
                    t.dims(),
                    v.dims()
                );
            }
            v.set(&t.to_device(&self.device)?)?;
        }
        Ok(())
    }

    /// A `VarBuilder` drawing from this store, for networks written the candle-transformers way
    /// (a struct per block built from a `VarBuilder`). Candle's init hints map to this store's
    /// seeded draws: `Const(0)`/`Const(1)` → zeros/ones, `Randn { mean: 0, stdev }` → normal.
    pub fn var_builder(&mut self) -> candle_nn::VarBuilder<'_> {
        let dev = self.device.clone();
        candle_nn::VarBuilder::from_backend(
            Box::new(StoreBackend(std::sync::Mutex::new(self))),
            DType::F32,
            dev,
        )
    }

    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }
}

struct StoreBackend<'a>(std::sync::Mutex<&'a mut ParamStore>);

impl candle_nn::var_builder::SimpleBackend for StoreBackend<'_> {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        h: candle_nn::Init,
        _dtype: DType,
        _dev: &Device,
    ) -> Result<Tensor> {
        let init = match h {
            candle_nn::Init::Const(0.0) => Init::Zeros,
            candle_nn::Init::Const(1.0) => Init::Ones,
            candle_nn::Init::Randn { mean: 0.0, stdev } => Init::Normal(stdev),
            other => candle_core::bail!("parameter '{name}': unsupported init {other:?}"),
        };
        let mut store = self
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg("parameter store lock poisoned".into()))?;
        store.get(name, s.dims(), init)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("parameter '{name}': a shape is needed")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0
            .lock()
            .map(|s| {
                s.vars.contains_key(name)
                    || s.loaded
                        .as_ref()
                        .map(|m| m.contains_key(name))
                        .unwrap_or(false)
            })
            .unwrap_or(false)
    }
}

/// A convolution layer (weights OIHW, bias [O]).
/// A conv layer's `{name}.weight` (shape `wshape`) and `{name}.bias` (`cout` long), with
/// PyTorch's default fan-in uniform init unless `init` is given (zeros or normal weights get
/// zero biases).
fn weight_and_bias(
    ps: &mut ParamStore,
    name: &str,
    wshape: &[usize],
    cout: usize,
    fan: usize,
    init: Option<Init>,
) -> Result<(Tensor, Tensor)> {
    let wi = init.unwrap_or(Init::FanInUniform(fan));
    let bi = match init {
        Some(Init::Zeros) | Some(Init::Normal(_)) => Init::Zeros,
        _ => Init::FanInUniform(fan),
    };
    let w = ps.get(&format!("{name}.weight"), wshape, wi)?;
    let b = ps.get(&format!("{name}.bias"), &[cout], bi)?;
    Ok((w, b))
}

#[derive(Clone)]
pub struct Conv {
    pub w: Tensor,
    pub b: Tensor,
    pub p: Conv2dParams,
}

impl Conv {
    /// `k`×`k` conv `cin`→`cout`, with PyTorch's default init unless `init` is given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        init: Option<Init>,
    ) -> Result<Self> {
        let (w, b) = weight_and_bias(ps, name, &[cout, cin, k, k], cout, cin * k * k, init)?;
        Ok(Conv {
            w,
            b,
            p: Conv2dParams {
                stride,
                padding,
                ..Default::default()
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::conv2d(x, &self.w, Some(&self.b), self.p)
    }
}

/// A transposed convolution layer (weights [Cin, Cout, k, k], bias [Cout]).
#[derive(Clone)]
pub struct ConvT {
    pub w: Tensor,
    pub b: Tensor,
    pub p: ConvTranspose2dParams,
}

impl ConvT {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        init: Option<Init>,
    ) -> Result<Self> {
        let (w, b) = weight_and_bias(ps, name, &[cin, cout, k, k], cout, cout * k * k, init)?;
        Ok(ConvT {
            w,
            b,
            p: ConvTranspose2dParams {
                stride,
                padding,
                ..Default::default()
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::conv_transpose2d(x, &self.w, Some(&self.b), self.p)
    }
}

/// A fully connected layer: `x` [N, in] → [N, out].
#[derive(Clone)]
pub struct Linear {
    pub w: Tensor,
    pub b: Tensor,
}

impl Linear {
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        din: usize,
        dout: usize,
        init: Option<Init>,
    ) -> Result<Self> {
        let wi = init.unwrap_or(Init::FanInUniform(din));
        let bi = match init {
            Some(Init::Zeros) | Some(Init::Normal(_)) => Init::Zeros,
            _ => Init::FanInUniform(din),
        };
        let w = ps.get(&format!("{name}.weight"), &[dout, din], wi)?;
        let b = ps.get(&format!("{name}.bias"), &[dout], bi)?;
        Ok(Linear { w, b })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w.t()?)?.broadcast_add(&self.b)
    }
}

/// Leaky ReLU with slope `a` for negative inputs.
pub fn leaky_relu(x: &Tensor, a: f64) -> Result<Tensor> {
    // max(x, a·x) for 0 < a < 1, written with relu so the gradient is exact: x − (1−a)·relu(−x).
    x - (x.neg()?.relu()? * (1.0 - a))?
}
