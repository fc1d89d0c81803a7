#!/usr/bin/env python3
"""Exports ImageBind-huge's three encoders to ONNX for `omega embed --model DIR`.

ImageBind's weights are not shipped with omega (CC BY-NC-SA 4.0); bring your own checkpoint:

  # Meta's state dict (imagebind_huge.pth)
  python3 models/export_imagebind.py --checkpoint .checkpoints/imagebind_huge.pth --out models/imagebind-huge
  # OMEGA's fine-tune videobind-v0.2 is a whole pickled nn.Module: loading it runs code from the
  # file (bug B21 of the SN24 spec), so it needs an explicit --trust-pickle
  python3 models/export_imagebind.py --checkpoint videobind.pth --trust-pickle --out models/videobind-v0.2
  # add --fp16 for half-precision weights (inputs and outputs stay float32)
  # --random-init exports the real architecture with random weights (for benchmarks)

Needs: torch, onnx, the ImageBind code (`pip install imagebind-unofficial` or OMEGA's fork), and
for --fp16 onnxconverter-common. Writes vision.onnx (+ vision.onnx.data: the vision encoder is
over 2 GB, so its weights go to an external data file), audio.onnx, text.onnx, the CLIP BPE
vocabulary and manifest.json, then checks ONNX Runtime against PyTorch on random inputs.

Encoder I/O (what omega feeds and reads; opset 17):
  vision  [batch, 15, 3, 2, 224, 224] float32 -> embedding [batch, 1024] (mean of 15 unit vectors)
  audio   [batch, 3, 1, 128, 204]     float32 -> embedding [batch, 1024] (mean of 3, each norm 20)
  text    [batch, 77] int64                   -> embedding [batch, 1024] (norm = logit scale)
"""
import argparse
import hashlib
import json
import pathlib
import shutil
import sys

import torch

SHAPES = {
    "vision": (torch.float32, [15, 3, 2, 224, 224]),
    "audio": (torch.float32, [3, 1, 128, 204]),
    "text": (torch.int64, [77]),
}


def import_shim():
    """imagebind imports its data.py, which imports pytorchvideo; PyPI's pytorchvideo 0.1.5 needs
    a torchvision module that torchvision >= 0.17 removed. OMEGA's fork works around it the
    same way: the old module name points at its successor. Without pytorchvideo at all (it is
    an sdist only; a GPU machine without a registry), data.py, which the export never uses, is
    replaced by an empty module."""
    import importlib.util
    import types

    import torchvision.transforms.functional as functional
    sys.modules.setdefault("torchvision.transforms.functional_tensor", functional)
    if importlib.util.find_spec("pytorchvideo") is None:
        sys.modules.setdefault("imagebind.data", types.ModuleType("imagebind.data"))


def load_model(args):
    import_shim()
    from imagebind.models import imagebind_model

    if args.random_init:
        return imagebind_model.imagebind_huge(pretrained=False)
    obj = torch.load(args.checkpoint, map_location="cpu", weights_only=not args.trust_pickle)
    if isinstance(obj, torch.nn.Module):
        return obj
    model = imagebind_model.imagebind_huge(pretrained=False)
    model.load_state_dict(obj)
    return model


class Encoder(torch.nn.Module):
    """One modality of ImageBind: the model's own forward, which embeds every clip/view
    (ndim >= 5 inputs are folded into the batch), post-processes and averages over them."""

    def __init__(self, model, modality):
        super().__init__()
        self.model, self.modality = model, modality

    def forward(self, x):
        return self.model({self.modality: x})[self.modality]


def dummy(name, batch=2):
    dtype, shape = SHAPES[name]
    if dtype == torch.int64:
        x = torch.zeros([batch] + shape, dtype=torch.int64)
        x[:, 0], x[:, 1:6], x[:, 6] = 49406, torch.randint(300, 40000, (batch, 5)), 49407
        return x
    return torch.randn([batch] + shape)


def export(model, name, out, fp16):
    import onnx

    path = out / f"{name}.onnx"
    tmp = out / f".{name}.tmp.onnx"
    with torch.no_grad():
        torch.onnx.export(
            Encoder(model, name), (dummy(name),), str(tmp), input_names=[name], output_names=["embedding"],
            dynamic_axes={name: {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    proto = onnx.load(str(tmp), load_external_data=True)
    if fp16:
        from onnxconverter_common import float16
        proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    # Protobuf cannot hold more than 2 GB: large encoders keep their weights in a .data file.
    external = sum(len(t.raw_data) for t in proto.graph.initializer) > 1_500_000_000
    onnx.save_model(proto, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=f"{name}.onnx.data" if external else None)
    for f in out.glob(f".{name}.tmp.onnx*"):
        f.unlink()
    return path


def check(model, out, name):
    import onnxruntime as ort

    x = dummy(name)
    with torch.no_grad():
        want = Encoder(model, name)(x).numpy()
    got = ort.InferenceSession(str(out / f"{name}.onnx")).run(None, {name: x.numpy()})[0]
    cos = (want * got).sum(1) / (abs(want ** 2).sum(1) ** 0.5 * abs(got ** 2).sum(1) ** 0.5)
    print(f"{name}: ONNX Runtime vs PyTorch cosine {cos.min():.5f}")
    return float(cos.min())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=pathlib.Path)
    p.add_argument("--random-init", action="store_true", help="random weights (benchmarks only)")
    p.add_argument("--trust-pickle", action="store_true", help="allow a whole pickled model (runs code in it)")
    p.add_argument("--out", type=pathlib.Path, required=True)
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--model-id", default=None)
    p.add_argument("--only", choices=list(SHAPES), action="append", help="export only these encoders")
    args = p.parse_args()
    if not args.random_init and not args.checkpoint:
        p.error("give --checkpoint FILE (or --random-init)")
    args.out.mkdir(parents=True, exist_ok=True)
    model = load_model(args).eval()
    names = args.only or list(SHAPES)
    encoders = {}
    for name in names:
        path = export(model, name, args.out, args.fp16)
        check(model, args.out, name)
        encoders[name] = {
            "file": path.name, "input": name, "output": "embedding",
            "input_shape": ["batch"] + SHAPES[name][1], "dtype": "int64" if name == "text" else "float32",
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
    import imagebind
    bpe = pathlib.Path(imagebind.__file__).parent / "bpe" / "bpe_simple_vocab_16e6.txt.gz"
    if bpe.exists():
        shutil.copy(bpe, args.out / bpe.name)
    source = "random-init" if args.random_init else args.checkpoint.name
    manifest = {
        "model_id": args.model_id or f"imagebind-huge/{source}",
        "model_version": hashlib.sha256(source.encode()).hexdigest()[:12] + ("-fp16" if args.fp16 else ""),
        "description": f"ImageBind-huge encoders exported from {source} by models/export_imagebind.py",
        "license": "CC BY-NC-SA 4.0 (ImageBind weights)",
        "bpe_vocab": "bpe_simple_vocab_16e6.txt.gz",
        "encoders": encoders,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {args.out}/manifest.json")


if __name__ == "__main__":
    sys.exit(main())
