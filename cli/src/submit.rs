//! `wick submit`: a graph's frames on a render farm, through the farm's own engine.
//!
//! - `wick submit slurm GRAPH --frames 1-240 --chunk 24 [--wait]`: one Slurm job array
//!   (`sbatch --array`), one task per chunk of frames, each running
//!   `wick render GRAPH --frames A-B` with the same `wick`, plugin and weights. The job script
//!   and every chunk's log go into a folder next to the outputs (`out/shot.logs/` for outputs
//!   in `out/shot/`). A chunk that exits with a retryable code (75: device unavailable, out of
//!   memory) requeues itself (`scontrol requeue`, the job is submitted `--requeue`) up to
//!   `--max-retries` times; a fatal one (bad graph, missing model, a frame that cannot be
//!   rendered) is not retried. `--wait` follows the array with `squeue` until it ends, then
//!   names every failed chunk (frames, exit code, attempts, log) and exits non-zero.
//! - `wick submit openjd GRAPH --frames 1-240 --chunk 24 --out job.template.yaml`: an Open
//!   Job Description template (the job format of AWS Deadline Cloud) with a frame-range job
//!   parameter and a chunked task parameter (`CHUNK[INT]`, extension `TASK_CHUNKING`) whose
//!   chunks each run `wick render`; `openjd run job.template.yaml` runs it locally.
//!
//! Frames are chunk-invariant (each frame depends only on its number), so any split renders
//! the same bytes as one `wick render` of the whole range.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::exit;
use crate::graph::{parse_frames, Graph};
use crate::{HostError, Plugin};

/// The engines `wick submit` speaks.
#[derive(Subcommand, Debug, Clone)]
pub enum Engine {
    /// Submit one Slurm job array (one task per chunk of frames).
    Slurm(SlurmArgs),
    /// Write an Open Job Description template (AWS Deadline Cloud, `openjd run`).
    Openjd(OpenjdArgs),
}

/// What both engines need.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The graph (TOML) to render.
    pub graph: PathBuf,
    /// Frames: 1-240, 1-240x2, 1,5,9 (default: the graph's `frames`).
    #[arg(long)]
    pub frames: Option<String>,
    /// Frames per task.
    #[arg(long, default_value_t = 10)]
    pub chunk: usize,
    /// The `wick` binary as the farm's nodes see it (default: this binary).
    #[arg(long = "wick")]
    pub wick_bin: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SlurmArgs {
    #[command(flatten)]
    pub common: Common,
    /// Block until the array ends; exit non-zero naming the failed chunks if any failed.
    #[arg(long)]
    pub wait: bool,
    /// Slurm partition (sbatch --partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Extra sbatch argument, repeatable: --sbatch-arg=--mem=8G --sbatch-arg=--gres=gpu:1.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Job name (default: wick-<graph name>).
    #[arg(long)]
    pub job_name: Option<String>,
    /// Folder for the job script and chunk logs (default: next to the first output folder,
    /// `<output folder>.logs`).
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// Requeues of a chunk that failed with a retryable exit code (75).
    #[arg(long, default_value_t = 2)]
    pub max_retries: u32,
    /// Seconds between squeue polls with --wait.
    #[arg(long, default_value_t = 2.0)]
    pub poll: f64,
    /// Print the job script and the sbatch command; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug, Clone)]
pub struct OpenjdArgs {
    #[command(flatten)]
    pub common: Common,
    /// The template file to write (YAML; default: GRAPH's folder, `<graph name>.template.yaml`).
    /// The graph's path is its default only when it lies in this file's folder or below.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A chunk: its index and its frames as a `--frames` spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub index: usize,
    pub frames: Vec<i64>,
    pub spec: String,
}

/// `frames` split into runs of `size` (the last may be shorter), in order.
pub fn chunks(frames: &[i64], size: usize) -> Vec<Chunk> {
    frames
        .chunks(size.max(1))
        .enumerate()
        .map(|(index, f)| Chunk {
            index,
            frames: f.to_vec(),
            spec: compact_spec(f),
        })
        .collect()
}

/// The shortest `--frames` spec for a frame list, as runs: `1-6`, `1-11x2`, `1,4,9-12`.
pub fn compact_spec(frames: &[i64]) -> String {
    let mut items = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let a = frames[i];
        // The longest arithmetic run from i with a positive step.
        let mut j = i;
        if i + 1 < frames.len() && frames[i + 1] > a {
            let step = frames[i + 1] - a;
            j = i + 1;
            while j + 1 < frames.len() && frames[j + 1] - frames[j] == step {
                j += 1;
            }
            if j == i + 1 && step != 1 {
                // Two frames with a gap: list them.
                j = i;
            }
        }
        if j == i {
            items.push(a.to_string());
        } else {
            let (b, step) = (frames[j], frames[i + 1] - a);
            items.push(if step == 1 {
                format!("{a}-{b}")
            } else {
                format!("{a}-{b}x{step}")
            });
        }
        i = j + 1;
    }
    items.join(",")
}

/// A Wick frame spec in Open Job Description's range-expression syntax (`a-b:step`).
pub fn openjd_range(spec: &str) -> String {
    spec.split(',')
        .map(|item| item.trim().replacen('x', ":", 1))
        .collect::<Vec<_>>()
        .join(",")
}

/// A word for a POSIX shell, single-quoted where needed.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn abs(p: &Path) -> Result<PathBuf, HostError> {
    std::fs::canonicalize(p).map_err(|e| HostError::Io {
        path: p.to_path_buf(),
        msg: format!("cannot resolve: {e}"),
    })
}

/// What a job runs, resolved on the submitting machine.
struct Job {
    graph: PathBuf,
    wick: PathBuf,
    plugin: PathBuf,
    frames: Vec<i64>,
    spec: String,
    chunks: Vec<Chunk>,
    name: String,
    /// The first write node's folder.
    out_dir: PathBuf,
}

fn prepare(plugin: &Plugin, plugin_path: &Path, c: &Common) -> Result<Job, HostError> {
    if c.chunk == 0 {
        return Err(HostError::BadArgument("--chunk must be at least 1".into()));
    }
    let graph_path = abs(&c.graph)?;
    // Checked here, so that a bad graph fails now rather than on every node.
    let graph = Graph::load(&graph_path, plugin)?;
    let spec = c
        .frames
        .clone()
        .or_else(|| graph.frames.clone())
        .ok_or_else(|| {
            HostError::BadArgument(
                "no frame range: pass --frames or set `frames` in the graph".into(),
            )
        })?;
    let frames = parse_frames(&spec)?;
    if frames.is_empty() {
        return Err(HostError::BadArgument(format!(
            "--frames {spec}: no frames"
        )));
    }
    let first_out = graph
        .outputs(frames[0])
        .into_iter()
        .next()
        .ok_or_else(|| HostError::BadArgument("the graph writes nothing".into()))?;
    let out_dir = first_out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let wick = match &c.wick_bin {
        Some(w) => w.clone(),
        None => std::env::current_exe().map_err(|e| HostError::Io {
            path: "wick".into(),
            msg: format!("cannot find this binary: {e}"),
        })?,
    };
    let stem = graph_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "graph".into());
    let name: String = format!("wick-{stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(Job {
        graph: graph_path,
        wick,
        plugin: abs(plugin_path)?,
        chunks: chunks(&frames, c.chunk),
        spec,
        frames,
        name,
        out_dir,
    })
}

/// Runs `wick submit`; returns the exit code (0, or what the failed chunks call for).
pub fn run(plugin: &Plugin, plugin_path: &Path, engine: &Engine) -> Result<i32, HostError> {
    match engine {
        Engine::Slurm(a) => slurm(plugin, plugin_path, a),
        Engine::Openjd(a) => openjd(plugin, plugin_path, a),
    }
}

// ---------------------------------------------------------------------------------------------
// Slurm

/// The environment the chunks need from the submitting shell (sbatch exports the whole
/// environment by default; these are written into the script so that a resubmission of the
/// script alone, or `--export=NONE`, still works).
const PASS_ENV: [&str; 3] = ["WICK_WEIGHTS_DIR", "WICK_MPI_LIB", "WICK_ENABLE_TEST_NODES"];

/// The sbatch script of a job array: task `i` renders chunk `i`.
fn slurm_script(job: &Job, logs: &Path, max_retries: u32) -> String {
    let q = |p: &Path| sh_quote(&p.to_string_lossy());
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={}\n", sh_quote(&job.name)));
    s.push_str(&format!("#SBATCH --array=0-{}\n", job.chunks.len() - 1));
    s.push_str(&format!(
        "#SBATCH --output={}\n",
        q(&logs.join("%A_%a.log"))
    ));
    s.push_str("#SBATCH --open-mode=append\n");
    s.push_str("#SBATCH --requeue\n");
    s.push_str(&format!(
        "# Written by `wick submit slurm`: {} frames {} in {} chunk(s).\n",
        job.graph.display(),
        job.spec,
        job.chunks.len()
    ));
    s.push_str(
        "# Each task renders its chunk with `wick render`. Exit 75 (device unavailable, out of\n\
         # memory) requeues the task up to MAX_RETRIES times; other failures are final.\n",
    );
    s.push_str("set -u\n");
    s.push_str(&format!("MAX_RETRIES={max_retries}\n"));
    s.push_str(&format!("LOGS={}\n", q(logs)));
    s.push_str("CHUNKS=(");
    for (k, c) in job.chunks.iter().enumerate() {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(&sh_quote(&c.spec));
    }
    s.push_str(")\n");
    for v in PASS_ENV {
        if let Ok(val) = std::env::var(v) {
            s.push_str(&format!("export {v}={}\n", sh_quote(&val)));
        }
    }
    s.push_str(&format!("export WICK_PLUGIN={}\n", q(&job.plugin)));
    s.push_str(
        "TASK=${SLURM_ARRAY_TASK_ID:?not a job array task}\n\
         FRAMES=${CHUNKS[$TASK]}\n\
         ATTEMPT=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))\n\
         echo \"wick: chunk $TASK frames $FRAMES attempt $ATTEMPT on $(hostname) at $(date '+%F %T')\"\n",
    );
    if let Some(dir) = job.graph.parent() {
        s.push_str(&format!("cd {} || exit 2\n", q(dir)));
    }
    s.push_str(&format!(
        "{} --plugin {} render {} --frames \"$FRAMES\"\n",
        q(&job.wick),
        q(&job.plugin),
        q(&job.graph)
    ));
    s.push_str(
        "RC=$?\n\
         echo \"$ATTEMPT $RC\" >> \"$LOGS/${SLURM_ARRAY_JOB_ID}_${TASK}.exit\"\n\
         echo \"wick: chunk $TASK exit $RC\"\n\
         if [ \"$RC\" -eq 75 ] && [ \"$ATTEMPT\" -le \"$MAX_RETRIES\" ]; then\n\
         \x20 echo \"wick: chunk $TASK: retryable failure, requeueing (retry $ATTEMPT of $MAX_RETRIES)\"\n\
         \x20 scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${TASK}\" && sleep 60\n\
         fi\n\
         exit \"$RC\"\n",
    );
    s
}

fn logs_dir(job: &Job, a: &SlurmArgs) -> PathBuf {
    match &a.logs {
        Some(l) => l.clone(),
        None => {
            let name = job
                .out_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "out".into());
            job.out_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("{name}.logs"))
        }
    }
}

fn slurm(plugin: &Plugin, plugin_path: &Path, a: &SlurmArgs) -> Result<i32, HostError> {
    let mut job = prepare(plugin, plugin_path, &a.common)?;
    if let Some(n) = &a.job_name {
        job.name = n.clone();
    }
    let logs = logs_dir(&job, a);
    let mut cmd_args: Vec<String> = vec!["--parsable".into()];
    if let Some(p) = &a.partition {
        cmd_args.push(format!("--partition={p}"));
    }
    cmd_args.extend(a.sbatch_args.iter().cloned());
    if a.dry_run {
        let logs_abs = std::path::absolute(&logs).unwrap_or(logs.clone());
        print!("{}", slurm_script(&job, &logs_abs, a.max_retries));
        let words: Vec<String> = cmd_args.iter().map(|w| sh_quote(w)).collect();
        println!("# sbatch {} SCRIPT", words.join(" "));
        return Ok(exit::OK);
    }
    std::fs::create_dir_all(&logs).map_err(|e| HostError::Io {
        path: logs.clone(),
        msg: format!("cannot create the logs folder: {e}"),
    })?;
    let logs = abs(&logs)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let script = logs.join(format!("{}-{stamp}.sbatch", job.name));
    crate::io::write_atomic(&script, slurm_script(&job, &logs, a.max_retries).as_bytes())?;
    let out = Command::new("sbatch")
        .args(&cmd_args)
        .arg(&script)
        .output()
        .map_err(|e| {
            HostError::BadArgument(format!(
                "cannot run sbatch ({e}): is this a Slurm submit host? (scripts/farm/slurm-up.sh \
                 starts a one-node Slurm on this machine)"
            ))
        })?;
    if !out.status.success() {
        return Err(HostError::BadArgument(format!(
            "sbatch refused the job ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(HostError::BadArgument(format!(
            "sbatch answered '{}', not a job id",
            stdout.trim()
        )));
    }
    eprintln!(
        "wick: submitted Slurm job array {id}: {} frames ({}) in {} chunk(s) of up to {}; \
         script and logs in {}",
        job.frames.len(),
        job.spec,
        job.chunks.len(),
        a.common.chunk,
        logs.display()
    );
    if !a.wait {
        println!("{id}");
        eprintln!("wick: follow it with `squeue -j {id}`; chunk logs: {id}_<chunk>.log");
        return Ok(exit::OK);
    }
    wait_slurm(&id, &job, &logs, a)
}

/// Slurm states after which a task does not run again (`squeue --states`).
const TERMINAL: [&str; 11] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
    "REVOKED",
    "SPECIAL_EXIT",
];

/// `squeue` rows of the array: (task id or pending range, state).
fn squeue(id: &str) -> Result<Vec<(String, String)>, String> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-t", "all", "-j", id, "-o", "%i|%T"])
        .output()
        .map_err(|e| format!("cannot run squeue: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // A job purged from slurmctld's memory (MinJobAge) is no longer known: it ended.
        if err.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        return Err(format!("squeue failed: {}", err.trim()));
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(i, s)| {
            let task = i.rsplit_once('_').map(|(_, t)| t).unwrap_or(i);
            (task.to_string(), s.trim().to_string())
        })
        .collect())
}

/// A chunk's attempts from its exit records: (attempt, exit code) in order.
fn exit_records(logs: &Path, id: &str, task: usize) -> Vec<(u32, i32)> {
    std::fs::read_to_string(logs.join(format!("{id}_{task}.exit")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

fn wait_slurm(id: &str, job: &Job, logs: &Path, a: &SlurmArgs) -> Result<i32, HostError> {
    let t0 = Instant::now();
    let poll = Duration::from_secs_f64(a.poll.clamp(0.2, 600.0));
    let mut last_states: BTreeMap<String, String> = BTreeMap::new();
    let mut last_line = String::new();
    let mut failures = 0;
    loop {
        let rows = match squeue(id) {
            Ok(r) => {
                failures = 0;
                r
            }
            Err(e) => {
                failures += 1;
                if failures >= 10 {
                    return Err(HostError::BadArgument(format!(
                        "lost track of job {id}: {e}"
                    )));
                }
                std::thread::sleep(poll);
                continue;
            }
        };
        let active = rows
            .iter()
            .filter(|(_, s)| !TERMINAL.contains(&s.as_str()))
            .count();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, s) in &rows {
            *counts.entry(s.as_str()).or_default() += 1;
        }
        let line: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.to_lowercase()))
            .collect();
        let line = line.join(", ");
        if line != last_line {
            eprintln!(
                "wick: job {id} at {:.0} s: {}",
                t0.elapsed().as_secs_f64(),
                if line.is_empty() { "done" } else { &line }
            );
            last_line = line;
        }
        for (t, s) in rows {
            last_states.insert(t, s);
        }
        if active == 0 {
            break;
        }
        std::thread::sleep(poll);
    }
    // Verdict per chunk, from its exit records (every attempt's code), else Slurm's last state.
    let mut failed = Vec::new();
    for c in &job.chunks {
        let rec = exit_records(logs, id, c.index);
        let state = last_states.get(&c.index.to_string()).cloned();
        let log = logs.join(format!("{id}_{}.log", c.index));
        match rec.last() {
            Some(&(_, 0)) if state.as_deref().is_none_or(|s| s == "COMPLETED") => {}
            Some(&(attempt, code)) => failed.push((c, Some(code), attempt, state, log)),
            None => failed.push((c, None, 0, state, log)),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if failed.is_empty() {
        eprintln!(
            "wick: job {id}: all {} chunk(s) rendered, {} frames ({}) in {secs:.1} s",
            job.chunks.len(),
            job.frames.len(),
            job.spec
        );
        return Ok(exit::OK);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "wick: job {id}: {} of {} chunk(s) failed after {secs:.1} s:",
        failed.len(),
        job.chunks.len()
    );
    let mut all_retryable = true;
    for (c, code, attempts, state, log) in &failed {
        let what = match code {
            Some(code) if exit::retryable(*code) => format!(
                "exit {code}: {}; gave up after {attempts} attempt(s)",
                exit::describe(*code)
            ),
            Some(code) => {
                all_retryable = false;
                format!(
                    "exit {code}: {}; not retried (attempt {attempts})",
                    exit::describe(*code)
                )
            }
            None => {
                all_retryable = false;
                format!(
                    "no exit record (Slurm state {}: cancelled, timed out or lost?)",
                    state.as_deref().unwrap_or("unknown")
                )
            }
        };
        let _ = writeln!(
            err,
            "  chunk {} frames {}: {what}; log {}",
            c.index,
            c.spec,
            log.display()
        );
    }
    Ok(if all_retryable {
        exit::RETRY
    } else {
        exit::RENDER
    })
}

// ---------------------------------------------------------------------------------------------
// Open Job Description

/// A YAML double-quoted scalar (JSON string syntax, which YAML reads as is).
fn y(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The Open Job Description template (`jobtemplate-2023-09` with `TASK_CHUNKING`) of a job.
///
/// The graph is a PATH parameter (so that farms map it to their workers' mounts); a PATH
/// default must lie in the template's folder `dir` (or below) and is written relative to it,
/// so a graph elsewhere gets no default (pass `-p Graph=...`). The `wick` binary and the
/// plugin are where the software is installed on the workers: STRING parameters.
fn openjd_template(job: &Job, chunk: usize, dir: &Path) -> String {
    let graph_default = match job.graph.strip_prefix(dir) {
        Ok(rel) => format!("\n  default: {}", y(&rel.to_string_lossy())),
        Err(_) => String::new(),
    };
    let mut env = String::new();
    for v in PASS_ENV {
        if let Ok(val) = std::env::var(v) {
            env.push_str(&format!("      {v}: {}\n", y(&val)));
        }
    }
    format!(
        r#"# Written by `wick submit openjd`: renders {graph} frames {spec} in chunks of {chunk}.
# Run it here: openjd run THIS_FILE   (PyPI openjd-cli; other values: -p Frames=1-100 -p ChunkSize=10)
# AWS Deadline Cloud: submit it as a job bundle's template.yaml (deadline bundle submit).
# The Graph default is relative to this file's folder; the graph reads and writes relative to its own.
specificationVersion: jobtemplate-2023-09
extensions:
- TASK_CHUNKING
name: {name}
parameterDefinitions:
- name: Graph
  type: PATH
  objectType: FILE
  dataFlow: IN
  description: "The wick render graph (TOML)."{graph_default}
- name: Frames
  type: STRING
  description: "Frames to render (range expression: 1-240, 1-240:2, 1,5,9)."
  default: {frames}
- name: ChunkSize
  type: INT
  description: "Frames per task."
  minValue: 1
  default: {chunk}
- name: Wick
  type: STRING
  description: "The wick binary on the workers."
  default: {wick}
- name: Plugin
  type: STRING
  description: "libwick.so on the workers."
  default: {plugin}
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions:
    - name: Frame
      type: CHUNK[INT]
      range: "{{{{Param.Frames}}}}"
      chunks:
        defaultTaskCount: "{{{{Param.ChunkSize}}}}"
        rangeConstraint: CONTIGUOUS
  stepEnvironments:
  - name: WickEnv
    variables:
      WICK_PLUGIN: "{{{{Param.Plugin}}}}"
{env}  script:
    actions:
      onRun:
        command: "{{{{Param.Wick}}}}"
        args:
        - --plugin
        - "{{{{Param.Plugin}}}}"
        - render
        - "{{{{Param.Graph}}}}"
        - --frames
        - "{{{{Task.Param.Frame}}}}"
        cancelation:
          mode: NOTIFY_THEN_TERMINATE
"#,
        graph = job.graph.display(),
        spec = job.spec,
        name = y(&format!("{} {}", job.name, job.spec)),
        frames = y(&openjd_range(&compact_spec(&job.frames))),
        wick = y(&job.wick.to_string_lossy()),
        plugin = y(&job.plugin.to_string_lossy()),
    )
}

fn openjd(plugin: &Plugin, plugin_path: &Path, a: &OpenjdArgs) -> Result<i32, HostError> {
    let job = prepare(plugin, plugin_path, &a.common)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = job
            .graph
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job".into());
        job.graph.with_file_name(format!("{stem}.template.yaml"))
    });
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| HostError::Io {
        path: dir.to_path_buf(),
        msg: e.to_string(),
    })?;
    let dir = abs(dir)?;
    let text = openjd_template(&job, a.common.chunk, &dir);
    crate::io::write_atomic(&out, text.as_bytes())?;
    let graph_arg = if job.graph.starts_with(&dir) {
        String::new()
    } else {
        format!(" -p Graph={}", sh_quote(&job.graph.to_string_lossy()))
    };
    eprintln!(
        "wick: wrote {} ({} frames {} in chunks of {}); run it here with `openjd run {}{graph_arg}`",
        out.display(),
        job.frames.len(),
        job.spec,
        a.common.chunk,
        sh_quote(&out.to_string_lossy()),
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_specs() {
        assert_eq!(compact_spec(&[1, 2, 3, 4, 5, 6]), "1-6");
        assert_eq!(compact_spec(&[7]), "7");
        assert_eq!(compact_spec(&[1, 3, 5, 7]), "1-7x2");
        assert_eq!(compact_spec(&[1, 4, 9, 10, 11, 12]), "1,4,9-12");
        assert_eq!(compact_spec(&[5, 9]), "5,9");
        assert_eq!(compact_spec(&[-3, -2, -1, 0]), "-3-0");
        for list in [
            vec![1, 2, 3, 10, 20, 30, 31],
            vec![2, 4, 6, 7, 8, 100],
            vec![-5, -4, 0, 3, 6, 9],
        ] {
            let spec = compact_spec(&list);
            assert_eq!(parse_frames(&spec).unwrap(), list, "{spec}");
            assert_eq!(parse_frames(&openjd_range(&spec)).unwrap(), list, "{spec}");
        }
    }

    #[test]
    fn chunking_covers_every_frame_once() {
        let frames = parse_frames("1-24").unwrap();
        let c = chunks(&frames, 6);
        assert_eq!(
            c.iter().map(|c| c.spec.as_str()).collect::<Vec<_>>(),
            ["1-6", "7-12", "13-18", "19-24"]
        );
        let c = chunks(&parse_frames("1-10x3").unwrap(), 3);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].spec, "1-7x3");
        assert_eq!(c[1].spec, "10");
        let all: Vec<i64> = chunks(&frames, 5)
            .into_iter()
            .flat_map(|c| c.frames)
            .collect();
        assert_eq!(all, frames);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(sh_quote("my shot.toml"), "'my shot.toml'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn openjd_ranges() {
        assert_eq!(openjd_range("1-24"), "1-24");
        assert_eq!(openjd_range("1-23x2,30"), "1-23:2,30");
    }
}
