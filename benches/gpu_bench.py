#!/usr/bin/env python3
"""The GPU side of benches/gpu.sh: ImageBind-huge's three encoders on one GPU, in one run.

  gpu_bench.py --model DIR --inputs DIR [--batch 64] [--iters 8] [--trt]

--model: omega's export (models/export_imagebind.py --random-init --fp16); --inputs: real clips'
model inputs as `omega embed --dump-inputs` writes them (ID.vision.npy, ID.audio.npy,
ID.text.npy), tiled to the batch. A "video" is what SN24 embeds per video: one vision, one audio
and one text input. Measured, each after two warm-up batches, with the device synchronised:

  torch_bf16      PyTorch, the real architecture in bf16, batched (the best known pattern)
  ort_cuda        ONNX Runtime's CUDA provider on omega's fp16 graphs, fp32 inputs copied from
                  the host per call (what `omega embed --device cuda` does today)
  ort_cuda_iobind the same with inputs and outputs bound on the device (no host copies)
  ort_trt         TensorRT provider (only with --trt and TensorRT libraries present)

Prints one JSON object: videos/s per variant, the share of the 135 videos/s compute limit."""
import argparse, glob, json, os, sys, time
import numpy as np

LIMIT = 135.0  # videos/s, ImageBind-huge on one H100-class GPU at its compute limit (issue #16)
NAMES = ("vision", "audio", "text")


def inputs(folder, batch):
    out = {}
    for name in NAMES:
        files = sorted(glob.glob(os.path.join(folder, f"*.{name}.npy")))
        if not files:
            sys.exit(f"{folder}: no *.{name}.npy (run omega embed --dump-inputs DIR first)")
        arrays = [np.load(f) for f in files]
        tiled = [arrays[i % len(arrays)] for i in range(batch)]
        out[name] = np.ascontiguousarray(np.stack([a.reshape(a.shape[-len(SHAPE[name]):]) for a in tiled]))
    return out


SHAPE = {"vision": (15, 3, 2, 224, 224), "audio": (3, 1, 128, 204), "text": (77,)}


def timed(step, iters, sync):
    for _ in range(2):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return time.perf_counter() - t0


def torch_bf16(x, batch, iters):
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
    import export_imagebind as ex
    ex.import_shim()
    from imagebind.models import imagebind_model
    model = imagebind_model.imagebind_huge(pretrained=False).eval().to("cuda", torch.bfloat16)
    feed = {n: torch.from_numpy(x[n]).to("cuda") for n in NAMES}
    feed = {n: (v if n == "text" else v.to(torch.bfloat16)) for n, v in feed.items()}

    def step():
        with torch.inference_mode():
            model(feed)
    seconds = timed(step, iters, torch.cuda.synchronize)
    del model
    torch.cuda.empty_cache()
    return batch * iters / seconds


def ort_sessions(model_dir, providers):
    import onnxruntime as ort
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    sessions = {}
    for name in NAMES:
        enc = manifest["encoders"][name]
        s = ort.InferenceSession(os.path.join(model_dir, enc["file"]), providers=providers)
        wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
        if s.get_providers()[0] != wanted:
            raise RuntimeError(f"{name}: {wanted} not used (got {s.get_providers()})")
        sessions[name] = (s, enc["input"], enc["output"])
    return sessions


def ort_plain(sessions, x, batch, iters):
    def step():
        for name in NAMES:
            s, i, o = sessions[name]
            s.run([o], {i: x[name]})
    return batch * iters / timed(step, iters, lambda: None)


def ort_iobind(sessions, x, batch, iters, device="cuda"):
    import onnxruntime as ort
    bindings = []
    for name in NAMES:
        s, i, o = sessions[name]
        b = s.io_binding()
        b.bind_ortvalue_input(i, ort.OrtValue.ortvalue_from_numpy(x[name], device, 0))
        b.bind_output(o, device, 0)
        bindings.append((s, b))

    def step():
        for s, b in bindings:
            s.run_with_iobinding(b)
    sync = lambda: [b.synchronize_outputs() for _, b in bindings]
    return batch * iters / timed(step, iters, sync)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--trt", action="store_true")
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--cpu", action="store_true", help="ONNX Runtime on the CPU: checks this script without a GPU")
    a = p.parse_args()
    x = inputs(a.inputs, a.batch)
    result = {"batch": a.batch, "iters": a.iters, "limit_videos_per_s": LIMIT}
    try:
        import torch
        result["device"] = torch.cuda.get_device_name(0)
    except Exception as e:  # the ORT figures stand without PyTorch
        result["device"] = f"unknown ({e})"
    variants = []
    if not a.skip_torch:
        variants.append(("torch_bf16", lambda: torch_bf16(x, a.batch, a.iters)))
    cuda = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    device = "cuda"
    if a.cpu:
        cuda, device = ["CPUExecutionProvider"], "cpu"
    variants.append(("ort_cuda", lambda: ort_plain(ort_sessions(a.model, cuda), x, a.batch, a.iters)))
    variants.append(("ort_cuda_iobind",
                     lambda: ort_iobind(ort_sessions(a.model, cuda), x, a.batch, a.iters, device)))
    if a.trt:
        trt = [("TensorrtExecutionProvider", {"trt_fp16_enable": True})] + cuda
        variants.append(("ort_trt", lambda: ort_iobind(ort_sessions(a.model, trt), x, a.batch, a.iters)))
    for name, run in variants:
        try:
            v = run()
            result[name] = {"videos_per_s": round(v, 2), "share_of_limit": round(v / LIMIT, 3)}
        except Exception as e:  # one variant failing (a provider missing) leaves the others
            result[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(json.dumps({name: result[name]}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
