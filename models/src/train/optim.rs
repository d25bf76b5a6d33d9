//! Adam with explicit, saveable moment tensors.
//!
//! candle-nn's `AdamW` keeps its moments private, so a checkpoint could not restore them and a
//! resumed run would diverge from an uninterrupted one. This Adam (Kingma & Ba, with PyTorch's
//! bias correction and optional decoupled weight decay) exposes its state as named tensors.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam over a fixed, ordered list of named variables.
pub struct Adam {
    pub cfg: AdamConfig,
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Number of updates applied so far (drives the bias correction).
    pub t: u64,
}

impl Adam {
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamConfig) -> Result<Self> {
        let m = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Adam {
            cfg,
            vars,
            m,
            v,
            t: 0,
        })
    }

    /// One update from `grads`; variables without a gradient are left untouched. In a
    /// data-parallel step the gradients are first summed over the ranks
    /// ([`super::dist::reduce_grads`]).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let reduced = super::dist::reduce_grads(&self.vars, grads)?;
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let g = match &reduced {
                Some(r) => r[i].as_ref(),
                None => grads.get(var.as_tensor()),
            };
            let Some(g) = g else {
                continue;
            };
            let m = ((&self.m[i] * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let upd = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + c.eps)?)?;
            let mut w = var.as_tensor().detach();
            if c.weight_decay > 0.0 {
                w = (&w * (1.0 - c.lr * c.weight_decay))?;
            }
            var.set(&(w - (upd * c.lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// State as tensors: `{prefix}m.{name}`, `{prefix}v.{name}`, `{prefix}t`.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("{prefix}m.{name}"), self.m[i].clone());
            out.insert(format!("{prefix}v.{name}"), self.v[i].clone());
        }
        let dev = self
            .m
            .first()
            .map(|t| t.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        out.insert(format!("{prefix}t"), super::u64_to_tensor(self.t, &dev)?);
        Ok(out)
    }

    /// Restores what [`Adam::state`] wrote.
    pub fn load_state(&mut self, src: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (slot, which) in [(&mut self.m[i], "m"), (&mut self.v[i], "v")] {
                let key = format!("{prefix}{which}.{name}");
                let t = src.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("checkpoint has no optimiser tensor '{key}'"))
                })?;
                if t.dims() != var.dims() {
                    candle_core::bail!(
                        "optimiser tensor '{key}' has shape {:?}, expected {:?}",
                        t.dims(),
                        var.dims()
                    );
                }
                *slot = t.to_device(var.device())?;
            }
        }
        let key = format!("{prefix}t");
        let t = src
            .get(&key)
            .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint has no '{key}'")))?;
        self.t = super::tensor_to_u64(t)?;
        Ok(())
    }
}
