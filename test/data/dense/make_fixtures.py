#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Generates the dense-layer test fixtures from PyTorch models (run with Debian's /usr/bin/python3 and
python3-torch; no network). For each model it writes

  <name>.lwtnn.json   the model in lwtnn's sequential JSON format (inputs with offset/scale, layers, outputs)
  <name>.onnx         the same model exported by torch.onnx (opset 13)
  <name>.ref.json     a batch of inputs and PyTorch's outputs: float32, float64 of the model the lwtnn JSON
                      describes exactly (output_double), float64 of the modules themselves (output_double_module)

Weights are float32 values; the JSON holds their exact decimal expansion (repr of the double), so a
float model loaded from JSON has bit-identical weights, and the float64 reference runs the same values.
Re-run: /usr/bin/python3 test/data/dense/make_fixtures.py  (then optionally make_ort_refs.py)
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20261126)


def vec(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


class HardSigmoid02(torch.nn.Module):
    """Keras 2 / ONNX hard sigmoid: clip(0.2 x + 0.5, 0, 1) (lwtnn's hard_sigmoid)."""

    def forward(self, x):
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


class Normalize(torch.nn.Module):
    """lwtnn input normalisation: (x + offset) * scale."""

    def __init__(self, offset, scale):
        super().__init__()
        self.register_buffer("offset", offset)
        self.register_buffer("scale", scale)

    def forward(self, x):
        return (x + self.offset) * self.scale


ACT_LWTNN = {
    torch.nn.ReLU: "rectified",
    torch.nn.Sigmoid: "sigmoid",
    torch.nn.Tanh: "tanh",
    torch.nn.SiLU: "swish",
    HardSigmoid02: "hard_sigmoid",
}


def activation_json(mod):
    if mod is None:
        return "linear"
    if isinstance(mod, torch.nn.Softmax):
        return "softmax"
    if isinstance(mod, torch.nn.ELU):
        return {"function": "elu", "alpha": float(mod.alpha)}
    if isinstance(mod, torch.nn.LeakyReLU):
        return {"function": "leakyrelu", "alpha": float(mod.negative_slope)}
    return ACT_LWTNN[type(mod)]


def to_lwtnn(model, n_inputs, outputs):
    """lwtnn sequential JSON of a Sequential of [Normalize] Linear/BatchNorm1d + activation modules."""
    mods = list(model)
    inputs = [{"name": "x%d" % i, "offset": 0.0, "scale": 1.0} for i in range(n_inputs)]
    if isinstance(mods[0], Normalize):
        off, sc = vec(mods[0].offset), vec(mods[0].scale)
        for i in range(n_inputs):
            inputs[i]["offset"], inputs[i]["scale"] = off[i], sc[i]
        mods = mods[1:]
    layers = []
    i = 0
    while i < len(mods):
        m = mods[i]
        act = mods[i + 1] if i + 1 < len(mods) and not isinstance(mods[i + 1], (torch.nn.Linear, torch.nn.BatchNorm1d)) else None
        if isinstance(m, torch.nn.Linear):
            layers.append({"architecture": "dense", "activation": activation_json(act),
                           "weights": vec(m.weight), "bias": vec(m.bias)})
        elif isinstance(m, torch.nn.BatchNorm1d):
            # lwtnn "normalization": W * (x + b) with W = gamma / sqrt(var + eps), b = beta / W - mean
            w = m.weight / torch.sqrt(m.running_var + m.eps)
            b = m.bias / w - m.running_mean
            layers.append({"architecture": "normalization", "activation": activation_json(act),
                           "weights": vec(w.float()), "bias": vec(b.float())})
        else:
            raise RuntimeError("unexpected module %r" % m)
        i += 2 if act is not None else 1
    return {"inputs": inputs, "layers": layers, "outputs": outputs, "defaults": {}, "miscellaneous": {}}


def lwtnn_equivalent(model):
    """The float model lwtnn's JSON describes exactly (BatchNorm as the stored W ⊙ (x + b))."""
    mods = []
    for m in model:
        if isinstance(m, torch.nn.BatchNorm1d):
            w = (m.weight / torch.sqrt(m.running_var + m.eps)).float()
            b = (m.bias / w - m.running_mean).float()
            mods.append(Normalize(b, w))
        else:
            mods.append(m)
    return torch.nn.Sequential(*mods).eval()


def randomize_batchnorm(model):
    for m in model:
        if isinstance(m, torch.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n) * 0.5)
            m.running_var.copy_(torch.rand(n) * 2 + 0.25)
            m.weight.data.copy_(torch.randn(n) * 0.5 + 1)
            m.bias.data.copy_(torch.randn(n) * 0.3)


class Concat2(torch.nn.Module):
    """Two named inputs joined along the features, then an MLP (ONNX: Concat of the graph inputs)."""

    def __init__(self, body, split):
        super().__init__()
        self.body = body
        self.split = split

    def forward(self, a, b):
        return self.body(torch.cat([a, b], dim=1))


def write_model(name, model, n_inputs, n_outputs, batch=9, lwtnn=True, opset=13, split=None):
    model.eval()
    randomize_batchnorm(model.body if split else model)
    x = (torch.randn(batch, n_inputs) * 2).float()
    args = (x[:, :split], x[:, split:]) if split else (x,)
    with torch.no_grad():
        y32 = model(*args)
        y64 = lwtnn_equivalent(model).double()(x.double()) if lwtnn else model.double()(*[a.double() for a in args])
        model.float()
        y64_module = model.double()(*[a.double() for a in args])  # the PyTorch modules themselves (true BatchNorm)
        model.float()
    ref = {"model": name, "inputs": x.tolist(), "output_float": y32.tolist(), "output_double": y64.tolist(),
           "output_double_module": y64_module.tolist(),
           "input_names": ["a", "b"] if split else ["x"], "input_widths": [split, n_inputs - split] if split else [n_inputs]}
    outputs = ["y%d" % i for i in range(n_outputs)]
    if lwtnn:
        with open(os.path.join(HERE, name + ".lwtnn.json"), "w") as f:
            json.dump(to_lwtnn(model, n_inputs, outputs), f)
    names = ref["input_names"]
    axes = {n: {0: "batch"} for n in names + ["y"]}
    torch.onnx.export(model, args, os.path.join(HERE, name + ".onnx"), input_names=names, output_names=["y"],
                      dynamic_axes=axes, opset_version=opset)
    with open(os.path.join(HERE, name + ".ref.json"), "w") as f:
        json.dump(ref, f)


def main():
    # The hls4ml/L1-trigger-like net with input normalisation and a softmax head.
    l1 = torch.nn.Sequential(Normalize(torch.randn(16) * 0.1, torch.rand(16) + 0.5),
                             torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                             torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5), torch.nn.Softmax(dim=1))
    write_model("l1_mlp", l1, 16, 5)
    # Every lwtnn activation this loader supports.
    acts = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ELU(alpha=0.7), torch.nn.Linear(10, 10),
                               torch.nn.LeakyReLU(0.1), torch.nn.Linear(10, 10), torch.nn.Sigmoid(),
                               torch.nn.Linear(10, 10), torch.nn.Tanh(), torch.nn.Linear(10, 10), torch.nn.SiLU(),
                               torch.nn.Linear(10, 10), HardSigmoid02(), torch.nn.Linear(10, 4))
    write_model("activations", acts, 6, 4)
    # BatchNorm after a linear Dense (folded at load), then ReLU; width 40 > one 32-float panel.
    bn = torch.nn.Sequential(torch.nn.Linear(12, 40), torch.nn.BatchNorm1d(40), torch.nn.ReLU(),
                             torch.nn.Linear(40, 3))
    write_model("batchnorm", bn, 12, 3)
    # ONNX only: the ops lwtnn lacks (opset 17 for LayerNormalization): GELU (Div-Erf-Add-Mul-Mul),
    # MatMul without bias, LayerNorm, SELU, BatchNormalization, SiLU (Sigmoid-Mul), Dropout, Hardsigmoid.
    ops = torch.nn.Sequential(torch.nn.Linear(10, 24), torch.nn.GELU(), torch.nn.Linear(24, 24, bias=False),
                              torch.nn.LayerNorm(24), torch.nn.SELU(), torch.nn.Linear(24, 40),
                              torch.nn.BatchNorm1d(40), torch.nn.SiLU(), torch.nn.Dropout(0.1), torch.nn.Linear(40, 24),
                              torch.nn.Hardsigmoid(), torch.nn.Linear(24, 3))
    with torch.no_grad():
        ops[3].weight.copy_(torch.randn(24) * 0.3 + 1)
        ops[3].bias.copy_(torch.randn(24) * 0.2)
    write_model("onnx_ops", ops, 10, 3, lwtnn=False, opset=17)
    # ONNX only: two graph inputs joined by Concat.
    cat = Concat2(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)), 5)
    write_model("concat_inputs", cat, 8, 2, lwtnn=False, split=5)
    # ONNX only: Clip, as ReLU6 and Hardtanh export it: bounds as constant inputs (opset 13) and as
    # attributes (opset 9).
    clip = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU6(), torch.nn.Linear(16, 16),
                               torch.nn.Hardtanh(-0.5, 0.75), torch.nn.Linear(16, 3))
    write_model("clip_ops", clip, 8, 3, lwtnn=False, opset=13)
    write_model("clip_ops_opset9", clip, 8, 3, lwtnn=False, opset=9)
    # ONNX only: torch.nn.LayerNorm at opset 13, which torch.onnx writes decomposed (ReduceMean, Sub, Pow 2,
    # ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta): the loader fuses it into one LayerNorm layer.
    # The second LayerNorm has no affine parameters (the pattern ends at Div). Last, so the random
    # streams of the fixtures above do not change.
    ln = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.LayerNorm(20, eps=1e-3), torch.nn.ReLU(),
                             torch.nn.Linear(20, 16), torch.nn.LayerNorm(16, elementwise_affine=False),
                             torch.nn.Tanh(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        ln[1].weight.copy_(torch.randn(20) * 0.3 + 1)
        ln[1].bias.copy_(torch.randn(20) * 0.2)
    write_model("layernorm_opset13", ln, 10, 3, lwtnn=False, opset=13)


if __name__ == "__main__":
    main()
