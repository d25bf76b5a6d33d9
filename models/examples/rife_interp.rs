//! Interpolates frame pairs with RIFE 4.2x (IFNet) on the CPU; used by tools/bench_interpolate.py.
//!
//! Reads jobs, one per line on stdin: `A.ppm B.ppm T OUT.ppm` (binary 8-bit PPM, P6), loads
//! the weights once, and writes each frame at time T. Prints per-frame and total wall time of
//! the network (file I/O excluded):
//!
//!     echo "a.ppm b.ppm 0.5 mid.ppm" | cargo run -p wick-models --example rife_interp -- \
//!         models/weights/rife42.safetensors [SCALE [symmetric] [mirror]]
//!
//! `tol=X` sets the composition's agreement tolerance (`IfNet::interpolate_fused`, default
//! `DEFAULT_TOLERANCE`), `still=PX` its still-motion radius (default `DEFAULT_STILL_MOTION`) and
//! `blur=SIGMA` the prefilter of the frames the network sees (default `DEFAULT_PREFILTER`; all
//! three 0 = RIFE's own composition); `dump=DIR` also writes each job's raw
//! estimate. `symmetric` averages the (A, B, T) and (B, A, 1 - T) estimates (twice the time); `mirror`
//! also averages the estimate on left-right mirrored frames (twice again). Consecutive jobs run
//! two at a time (`WICK_RIFE_INFLIGHT=N` changes it), as `wick retime --jobs 2` does; the time
//! printed per group is the wall time of the group.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use wick_models::rife::IfNet;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn read_ppm(path: &Path) -> Res<Tensor> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .read_to_end(&mut bytes)?;
    // Header: "P6" whitespace width whitespace height whitespace maxval single-whitespace.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let s = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if s == i {
            return Err(format!("{}: truncated PPM header", path.display()).into());
        }
        fields.push(String::from_utf8_lossy(&bytes[s..i]).to_string());
    }
    i += 1;
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("{}: need binary 8-bit PPM (P6, maxval 255)", path.display()).into());
    }
    let (w, h): (usize, usize) = (fields[1].parse()?, fields[2].parse()?);
    let data = bytes
        .get(i..i + w * h * 3)
        .ok_or_else(|| format!("{}: truncated", path.display()))?;
    let v: Vec<f32> = data.iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Tensor::from_vec(v, (1, h, w, 3), &Device::Cpu)?
        .permute((0, 3, 1, 2))?
        .contiguous()?)
}

fn write_ppm(path: &Path, x: &Tensor) -> Res<()> {
    let (_, _, h, w) = x.dims4()?;
    let v = x
        .clamp(0f32, 1f32)?
        .permute((0, 2, 3, 1))?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(f, "P6\n{w} {h}\n255\n")?;
    f.write_all(
        &v.iter()
            .map(|&x| (x * 255.0).round() as u8)
            .collect::<Vec<u8>>(),
    )?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let weights = args
        .first()
        .ok_or("usage: rife_interp WEIGHTS [SCALE [symmetric] [mirror]] < jobs")?;
    let scale: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let symmetric = args.iter().skip(2).any(|s| s == "symmetric");
    let mirror = args.iter().skip(2).any(|s| s == "mirror");
    // `dump=DIR`: also write each job's raw estimate (flow 4 planes + mask logit, f32 LE,
    // [5, h, w]) to DIR/<OUT file name>.est, for analysis scripts.
    // `tol=X`: the composition's agreement tolerance (IfNet::interpolate_fused; 0 = RIFE's).
    let tol: f32 = args
        .iter()
        .skip(2)
        .find_map(|s| s.strip_prefix("tol="))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(wick_models::rife::DEFAULT_TOLERANCE);
    // `still=PX`: the composition's still-motion radius (0 = off).
    let still: f32 = args
        .iter()
        .skip(2)
        .find_map(|s| s.strip_prefix("still="))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(wick_models::rife::DEFAULT_STILL_MOTION);
    // `blur=SIGMA`: the prefilter of the frames the network sees (0 = off).
    let blur: f32 = args
        .iter()
        .skip(2)
        .find_map(|s| s.strip_prefix("blur="))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(wick_models::rife::DEFAULT_PREFILTER);
    let comp = wick_models::rife::Composition {
        tolerance: tol,
        still_motion: still,
        prefilter: blur,
    };
    let dump = args
        .iter()
        .skip(2)
        .find_map(|s| s.strip_prefix("dump="))
        .map(std::path::PathBuf::from);
    let net = IfNet::load(Path::new(weights), &Device::Cpu)?;
    let jobs: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    // Frames in flight: consecutive jobs run side by side (each op still uses every core).
    let inflight: usize = std::env::var("WICK_RIFE_INFLIGHT")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(2)
        .max(1);
    let (mut total, mut count) = (0f64, 0usize);
    for group in jobs.chunks(inflight) {
        let mut inputs = Vec::new();
        for line in group {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 4 {
                return Err(format!("bad job line (want A B T OUT): {line}").into());
            }
            let (a, b) = (read_ppm(Path::new(f[0]))?, read_ppm(Path::new(f[1]))?);
            inputs.push((a, b, f[2].parse::<f64>()?, f[3].to_string()));
        }
        let start = Instant::now();
        let outs: Vec<_> = {
            use rayon::prelude::*;
            inputs
                .par_iter()
                .map(|(a, b, t, _)| -> Result<Vec<f32>, String> {
                    let out = net
                        .interpolate_ensemble(a, b, *t, scale, symmetric, mirror, comp)
                        .map_err(|e| e.to_string())?;
                    // Force the computation before timing.
                    out.flatten_all()
                        .and_then(|o| o.to_vec1::<f32>())
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()?
        };
        let s = start.elapsed().as_secs_f64();
        total += s;
        count += group.len();
        for ((a, _, _, out), v) in inputs.iter().zip(outs) {
            let (_, c, h, w) = a.dims4()?;
            write_ppm(
                Path::new(out),
                &Tensor::from_vec(v, (1, c, h, w), &Device::Cpu)?,
            )?;
        }
        eprintln!("{} frames: {:.0} ms", group.len(), s * 1e3);
        if let Some(dir) = &dump {
            for (a, b, t, out) in &inputs {
                let e = net.estimate_prefiltered(a, b, *t, scale, blur)?;
                let v = Tensor::cat(&[&e.flow, &e.mask], 1)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let name = Path::new(out).file_name().ok_or("bad OUT")?;
                let mut p = dir.join(name).into_os_string();
                p.push(".est");
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                std::fs::write(p, bytes)?;
            }
        }
    }
    println!(
        "rife_interp: {count} frames, network time {total:.2} s (scale {scale}, symmetric {symmetric}, mirror {mirror}, tol {tol}, still {still}, blur {blur})"
    );
    Ok(())
}
