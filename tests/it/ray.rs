//! The Ray driver (pipelines/ray/omega_ray.py) on a real two-node Ray cluster on loopback: the
//! demo pipeline as sharded Ray tasks, tasks on both nodes, a killed task and a killed Ray
//! worker retried, and the dataset holding every accepted row exactly once, as one process
//! makes it. The cluster (in a network namespace with only `lo`) and its checks live in
//! tests/support/ray_pipeline_test.py, run here with Ray's own Python.

use crate::common::{media_dir, run_bounded, scratch, support, tiny_model, venv_python};

#[test]
fn the_ray_pipeline_survives_killed_tasks_and_writes_every_row_once() {
    let work = scratch("ray-pipeline");
    let python = venv_python("OMEGA_RAY_PYTHON", ".cache/ray/bin/python");
    let out = run_bounded(
        std::process::Command::new(python)
            .arg(support("ray_pipeline_test.py"))
            .arg("--omega")
            .arg(env!("CARGO_BIN_EXE_omega"))
            .arg("--model")
            .arg(tiny_model())
            .arg("--media")
            .arg(media_dir())
            .arg("--work")
            .arg(&work),
    );
    assert!(
        out.status.success(),
        "the Ray pipeline test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
