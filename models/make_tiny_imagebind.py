#!/usr/bin/env python3
"""Writes tiny stand-in ImageBind encoders (models/imagebind-tiny/) for tests and the demo.

They have exactly the I/O of the real exported encoders (models/export_imagebind.py):
  vision.onnx  vision [batch, 15, 3, 2, 224, 224] float32 -> embedding [batch, 1024]
  audio.onnx   audio  [batch, 3, 1, 128, 204]     float32 -> embedding [batch, 1024]
  text.onnx    text   [batch, 77] int64           -> embedding [batch, 1024]
and the same output norms (video: mean of 15 unit vectors; audio: mean of 3 vectors of norm 20;
text: norm 100). Each pools its input coarsely, centres the pooled features, projects them
with a fixed seeded matrix and L2-normalises: deterministic, milliseconds per video, and
sensitive to content (different videos give clearly different embeddings).
Needs numpy and onnx: python3 models/make_tiny_imagebind.py [OUT_DIR]"""
import hashlib, json, pathlib, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "imagebind-tiny")
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(24)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def normalize_project(prefix, features, dim_in, scale):
    """nodes: centre `features` [.., dim_in], project to 1024, L2-normalise, times scale."""
    w = (rng.standard_normal((dim_in, 1024)) / np.sqrt(dim_in)).astype(np.float32)
    inits = [const(f"{prefix}_w", w), const(f"{prefix}_scale", np.float32(scale)), const(f"{prefix}_eps", np.float32(1e-12))]
    nodes = [
        helper.make_node("ReduceMean", [features], [f"{prefix}_mu"], axes=[-1], keepdims=1),
        helper.make_node("Sub", [features, f"{prefix}_mu"], [f"{prefix}_c"]),
        helper.make_node("MatMul", [f"{prefix}_c", f"{prefix}_w"], [f"{prefix}_p"]),
        helper.make_node("ReduceL2", [f"{prefix}_p"], [f"{prefix}_n"], axes=[-1], keepdims=1),
        helper.make_node("Add", [f"{prefix}_n", f"{prefix}_eps"], [f"{prefix}_n2"]),
        helper.make_node("Div", [f"{prefix}_p", f"{prefix}_n2"], [f"{prefix}_u"]),
        helper.make_node("Mul", [f"{prefix}_u", f"{prefix}_scale"], [f"{prefix}_out"]),
    ]
    return nodes, inits, f"{prefix}_out"


def save(name, graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omega make_tiny_imagebind")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = out / f"{name}.onnx"
    onnx.save(model, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vision():
    x = helper.make_tensor_value_info("vision", TensorProto.FLOAT, ["batch", 15, 3, 2, 224, 224])
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 1024])
    inits = [const("v_shape1", np.array([-1, 6, 224, 224], np.int64)), const("v_shape2", np.array([-1, 15, 96], np.int64))]
    nodes = [
        helper.make_node("Reshape", ["vision", "v_shape1"], ["v_r"]),
        helper.make_node("AveragePool", ["v_r"], ["v_pool"], kernel_shape=[56, 56], strides=[56, 56]),
        helper.make_node("Reshape", ["v_pool", "v_shape2"], ["v_feat"]),
    ]
    n2, i2, o = normalize_project("v", "v_feat", 96, 1.0)
    nodes += n2 + [helper.make_node("ReduceMean", [o], ["embedding"], axes=[1], keepdims=0)]
    return save("vision", helper.make_graph(nodes, "tiny_vision", [x], [y], inits + i2))


def audio():
    x = helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 3, 1, 128, 204])
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 1024])
    inits = [const("a_shape1", np.array([-1, 1, 128, 204], np.int64)), const("a_shape2", np.array([-1, 3, 96], np.int64))]
    nodes = [
        helper.make_node("Reshape", ["audio", "a_shape1"], ["a_r"]),
        helper.make_node("AveragePool", ["a_r"], ["a_pool"], kernel_shape=[16, 17], strides=[16, 17]),
        helper.make_node("Reshape", ["a_pool", "a_shape2"], ["a_feat"]),
    ]
    n2, i2, o = normalize_project("a", "a_feat", 96, 20.0)
    nodes += n2 + [helper.make_node("ReduceMean", [o], ["embedding"], axes=[1], keepdims=0)]
    return save("audio", helper.make_graph(nodes, "tiny_audio", [x], [y], inits + i2))


def text():
    x = helper.make_tensor_value_info("text", TensorProto.INT64, ["batch", 77])
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 1024])
    table = rng.standard_normal((4096, 32)).astype(np.float32)
    inits = [const("t_table", table), const("t_mod", np.array(4096, np.int64)), const("t_zero", np.array(0, np.int64)),
             const("t_one", np.float32(1.0))]
    nodes = [
        helper.make_node("Mod", ["text", "t_mod"], ["t_ids"]),
        helper.make_node("Gather", ["t_table", "t_ids"], ["t_emb"], axis=0),          # [B,77,32]
        helper.make_node("Equal", ["text", "t_zero"], ["t_pad"]),
        helper.make_node("Not", ["t_pad"], ["t_keep"]),
        helper.make_node("Cast", ["t_keep"], ["t_mask"], to=TensorProto.FLOAT),       # [B,77]
        helper.make_node("Unsqueeze", ["t_mask", "t_axes"], ["t_mask3"]),             # [B,77,1]
        helper.make_node("Mul", ["t_emb", "t_mask3"], ["t_masked"]),
        helper.make_node("ReduceSum", ["t_masked", "t_axis1"], ["t_sum"], keepdims=0),  # [B,32]
        helper.make_node("ReduceSum", ["t_mask3", "t_axis1"], ["t_count0"], keepdims=0),
        helper.make_node("Max", ["t_count0", "t_one"], ["t_count"]),
        helper.make_node("Div", ["t_sum", "t_count"], ["t_feat"]),
    ]
    inits += [const("t_axes", np.array([2], np.int64)), const("t_axis1", np.array([1], np.int64))]
    n2, i2, o = normalize_project("t", "t_feat", 32, 100.0)
    nodes += n2 + [helper.make_node("Identity", [o], ["embedding"])]
    return save("text", helper.make_graph(nodes, "tiny_text", [x], [y], inits + i2))


sha = {"vision": vision(), "audio": audio(), "text": text()}
print(json.dumps(sha, indent=1))
