#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TMVA BDT fixtures. ROOT cannot be installed here, so the weight files are written by hand from the
documented format (<MethodSetup> / <GeneralInfo> / <Options> / <Variables> / <Weights> / <BinaryTree> /
nested <Node pos IVar Cut cType res purity nType>), and their reference outputs come from the independent
evaluator below, which follows TMVA's MethodBDT / DecisionTreeNode::GoesRight semantics in double:

  goes right  iff  (x >= Cut) == cType          (ROOT >= 5.34/20 and 6.02; `x > Cut` before)
  BDTG classification  2 / (1 + exp(-2 F)) - 1,  F = sum of the leaves' res, trees in order
  BDTG regression      F + boostWeight of tree 0
  BDTG multiclass      class c sums trees c, c + K, ...; p_c = 1 / (1 + sum_{j != c} exp(F_j - F_c))
  AdaBoost             sum_i w_i v_i / sum_i w_i, v = nType (UseYesNoLeaf) or purity

Run from the repository root (numpy only):  python3 test/data/bdt/make_tmva_fixtures.py
Writes NAME.weights.xml[.gz], NAME.x.f32 and NAME.pred.f64 (and NAME.margin.f64 where the sum of the
leaves is what TMVA itself sums first) and adds the fixtures to manifest.json.
"""
import gzip
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class Node:
    def __init__(self):
        self.leaf = True
        self.ivar = -1
        self.cut = 0.0
        self.ctype = 1
        self.res = 0.0
        self.purity = 0.5
        self.ntype = 1
        self.left = None
        self.right = None


def random_tree(rng, nvar, depth, max_depth, double_cuts):
    n = Node()
    if depth < max_depth and (depth < 1 or rng.random() < 0.75):
        n.leaf = False
        n.ivar = int(rng.integers(0, nvar))
        c = rng.normal()
        n.cut = float(c) if double_cuts and rng.random() < 0.5 else float(np.float32(c))
        n.ctype = int(rng.integers(0, 2))
        n.left = random_tree(rng, nvar, depth + 1, max_depth, double_cuts)
        n.right = random_tree(rng, nvar, depth + 1, max_depth, double_cuts)
    else:
        n.res = float(rng.normal() * 0.3)
        n.purity = float(rng.random())
        n.ntype = 1 if n.purity > 0.5 else -1
    return n


def cuts(node, out):
    if not node.leaf:
        out.setdefault(node.ivar, []).append(node.cut)
        cuts(node.left, out)
        cuts(node.right, out)


def node_xml(node, pos, depth, indent):
    sp = "  " * indent
    attrs = (f'pos="{pos}" depth="{depth}" NCoef="0" IVar="{node.ivar}" Cut="{node.cut:.17e}" '
             f'cType="{node.ctype}" res="{node.res:.17e}" rms="0.0e+00" purity="{node.purity:.17e}" '
             f'nType="{0 if not node.leaf else node.ntype}"')
    if node.leaf:
        return f"{sp}<Node {attrs}/>\n"
    return (f"{sp}<Node {attrs}>\n" + node_xml(node.left, "l", depth + 1, indent + 1) +
            node_xml(node.right, "r", depth + 1, indent + 1) + f"{sp}</Node>\n")


def weight_file(root_release, boost, yes_no, analysis, nclass, names, trees, weights, transform=False,
                transformations_xml=None, labels=None):
    opts = (f'    <Option name="NTrees" modified="Yes">{len(trees)}</Option>\n'
            f'    <Option name="BoostType" modified="Yes">{boost}</Option>\n'
            f'    <Option name="UseYesNoLeaf" modified="No">{"True" if yes_no else "False"}</Option>\n')
    labels = labels or names
    variables = "".join(
        f'    <Variable VarIndex="{i}" Expression="{n}" Label="{lab}" Title="{lab}" Unit="" Internal="{lab}" '
        f'Type="F" Min="-3.0e+00" Max="3.0e+00"/>\n' for i, (n, lab) in enumerate(zip(names, labels)))
    classes = "".join(f'    <Class Name="class{c}" Index="{c}"/>\n' for c in range(max(nclass, 2)))
    trans = '  <Transformations NTransformations="0"/>\n'
    if transform:
        trans = ('  <Transformations NTransformations="1">\n    <Transform Name="Normalize">\n'
                 '    </Transform>\n  </Transformations>\n')
    if transformations_xml is not None:
        trans = transformations_xml
    body = ""
    for i, (t, w) in enumerate(zip(trees, weights)):
        body += f'    <BinaryTree type="DecisionTree" boostWeight="{w:.17e}" itree="{i}">\n'
        body += node_xml(t, "s", 0, 3)
        body += "    </BinaryTree>\n"
    return ('<?xml version="1.0"?>\n<MethodSetup Method="BDT::BDTG">\n  <GeneralInfo>\n'
            '    <Info name="TMVA Release" value="4.2.1 [262657]"/>\n'
            f'    <Info name="ROOT Release" value="{root_release}"/>\n'
            '    <Info name="Creator" value="portml make_tmva_fixtures.py"/>\n  </GeneralInfo>\n'
            f'  <Options>\n{opts}  </Options>\n'
            f'  <Variables NVar="{len(names)}">\n{variables}  </Variables>\n'
            '  <Spectators NSpec="0"/>\n'
            f'  <Classes NClass="{max(nclass, 2)}">\n{classes}  </Classes>\n'
            f'{trans}  <MVAPdfs/>\n'
            f'  <Weights NTrees="{len(trees)}" AnalysisType="{analysis}">\n{body}  </Weights>\n</MethodSetup>\n')


# ---- input transformations (TMVA's Reader applies them before the BDT) ---------------------------
# Written as ROOT's VariableTransform classes write them (AttachXMLTo): Normalize Min/Max with 16 digits
# (Tools::AddAttr), Decorrelation matrices with std::scientific's 6 digits (WriteTMatrixDToXML), PCA
# with 17 significant digits. One block per class plus one for all classes; a Reader loading a file
# uses the last block. The reference below re-implements TMVA's documented arithmetic independently:
#   Normalize      y = ((x - min) * scale) * 2 - 1 in float32, scale = float32(1 / double(max - min))
#   Decorrelation  y_i = sum_j x_j M_ij, double, j from 0
#   PCA            y_i = sum_j (x_j - mean_j) E_ji, double, j from 0
# every step's results stored as float32 (TMVA's Event keeps Float_t values).
class Step:
    def __init__(self, name, inputs, **params):
        self.name, self.inputs, self.params = name, inputs, params


def selection_xml(step, labels, names):
    def items(tag):
        return "".join(f'        <{tag} Type="Variable" Label="{labels[v]}" Expression="{names[v]}"/>\n'
                       for v in step.inputs)
    n = len(step.inputs)
    return (f'      <Selection>\n        <Input NInputs="{n}">\n{items("Input")}        </Input>\n'
            f'        <Output NOutputs="{n}">\n{items("Output")}        </Output>\n      </Selection>\n')


def step_xml(step, labels, names):
    p = step.params
    if step.name == "Normalize":
        body = ""
        for c, (mins, maxs) in enumerate(zip(p["min"], p["max"])):
            body += f'      <Class ClassIndex="{c}">\n        <Ranges>\n'
            for k, (lo, hi) in enumerate(zip(mins, maxs)):
                body += f'          <Range Index="{k}" Min="{lo:.16e}" Max="{hi:.16e}"/>\n'
            body += '        </Ranges>\n      </Class>\n'
    elif step.name == "Decorrelation":
        body = "".join(f'      <Matrix Rows="{len(m)}" Columns="{len(m)}">' +
                       "".join(f"{v:e} " for row in m for v in row) + '</Matrix>\n' for m in p["matrices"])
    elif step.name == "PCA":
        cls = ["Signal", "Background", "Combined"]
        body = "".join(f'      <Statistics Class="{cls[c]}" ClassIndex="{c}" NRows="{len(mu)}">' +
                       "".join(f"{v:.17g} " for v in mu) + '</Statistics>\n' for c, mu in enumerate(p["means"]))
        body += "".join(f'      <Eigenvectors Class="{cls[c]}" ClassIndex="{c}" NRows="{len(e)}" NCols="{len(e)}">' +
                        "".join(f"{v:.17g} " for row in e for v in row) + '</Eigenvectors>\n'
                        for c, e in enumerate(p["vectors"]))
    else:
        body = ""
    return f'    <Transform Name="{step.name}">\n' + selection_xml(step, labels, names) + body + '    </Transform>\n'


def transformations_xml(steps, labels, names):
    return (f'  <Transformations NTransformations="{len(steps)}">\n' +
            "".join(step_xml(s, labels, names) for s in steps) + '  </Transformations>\n')


def parse_back(step):
    """The parameters as the file holds them (the text written above, read back)."""
    p = step.params
    if step.name == "Normalize":
        lo = [np.float32(float(f"{v:.16e}")) for v in p["min"][-1]]
        hi = [np.float32(float(f"{v:.16e}")) for v in p["max"][-1]]
        return lo, hi
    if step.name == "Decorrelation":
        return [[float(f"{v:e}") for v in row] for row in p["matrices"][-1]]
    return [float(f"{v:.17g}") for v in p["means"][-1]], [[float(f"{v:.17g}") for v in row] for row in p["vectors"][-1]]


def apply_steps(steps, x):
    """The reference transformation of one float32 row."""
    x = np.array(x, dtype=np.float32)
    for step in steps:
        idx = step.inputs
        vals = [x[v] for v in idx]  # float32
        n = len(idx)
        if step.name == "Normalize":
            lo, hi = parse_back(step)
            out = []
            for k in range(n):
                scale = np.float32(1.0 / float(np.float32(hi[k] - lo[k])))
                centred = np.float32(vals[k] - lo[k])
                out.append(np.float32(np.float32(np.float32(centred * scale) * np.float32(2)) - np.float32(1)))
        elif step.name == "Decorrelation":
            m = parse_back(step)
            out = []
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += float(vals[j]) * m[i][j]
                out.append(np.float32(acc))
        else:
            mean, e = parse_back(step)
            out = []
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += (float(vals[j]) - mean[j]) * e[j][i]
                out.append(np.float32(acc))
        for k, v in enumerate(idx):
            x[v] = out[k]
    return x


def random_normalize(rng, inputs, nclass_blocks):
    mins, maxs = [], []
    for _ in range(nclass_blocks):
        lo = np.float32(rng.uniform(-3.5, -2.0, size=len(inputs)))
        hi = np.float32(rng.uniform(2.0, 3.5, size=len(inputs)))
        mins.append([float(v) for v in lo])
        maxs.append([float(v) for v in hi])
    return Step("Normalize", inputs, min=mins, max=maxs)


def random_decorrelation(rng, inputs, nclass_blocks):
    n = len(inputs)
    mats = []
    for _ in range(nclass_blocks):
        a = rng.normal(size=(n, n)) * 0.3 + np.eye(n)
        mats.append([[float(v) for v in row] for row in a])
    return Step("Decorrelation", inputs, matrices=mats)


def random_pca(rng, inputs, nclass_blocks):
    n = len(inputs)
    means, vecs = [], []
    for _ in range(nclass_blocks):
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        means.append([float(v) for v in rng.normal(size=n) * 0.2])
        vecs.append([[float(v) for v in row] for row in q])
    return Step("PCA", inputs, means=means, vectors=vecs)


# ---- the independent evaluator -------------------------------------------------------------------
def leaf_of(node, x, greater_equal):
    while not node.leaf:
        v = float(x[node.ivar])
        result = v >= node.cut if greater_equal else v > node.cut
        right = result if node.ctype == 1 else not result
        node = node.right if right else node.left
    return node


def evaluate(kind, trees, weights, x, greater_equal, yes_no, nclass):
    if kind == "bdtg":
        f = 0.0
        for t in trees:
            f += leaf_of(t, x, greater_equal).res
        return [f], [2.0 / (1.0 + math.exp(-2.0 * f)) - 1.0]
    if kind == "regression":
        f = 0.0
        for t in trees:
            f += leaf_of(t, x, greater_equal).res
        return None, [f + weights[0]]
    if kind == "multiclass":
        temp = [0.0] * nclass
        for i, t in enumerate(trees):
            temp[i % nclass] += leaf_of(t, x, greater_equal).res
        out = []
        for c in range(nclass):
            norm = 0.0
            for j in range(nclass):
                if j != c:
                    norm += math.exp(temp[j] - temp[c])
            out.append(1.0 / (1.0 + norm))
        return temp, out
    # AdaBoost
    mva, norm = 0.0, 0.0
    for t, w in zip(trees, weights):
        leaf = leaf_of(t, x, greater_equal)
        mva += w * (float(leaf.ntype) if yes_no else leaf.purity)
        norm += w
    return [mva], [mva / norm]


def inputs(rng, trees, nvar, n):
    all_cuts = {}
    for t in trees:
        cuts(t, all_cuts)
    x = rng.normal(size=(n, nvar)).astype(np.float32)
    for r in range(n // 2, n):
        for v in range(nvar):
            cs = all_cuts.get(v)
            if cs and rng.random() < 0.8:
                c = np.float32(cs[int(rng.integers(0, len(cs)))])
                k = int(rng.integers(0, 3))
                x[r, v] = c if k == 1 else np.nextafter(c, np.float32(np.inf if k == 2 else -np.inf))
    x[rng.random(x.shape) < 0.03] = np.nan
    return x


def main():
    manifest_path = os.path.join(HERE, "manifest.json")
    manifest = json.load(open(manifest_path))["fixtures"] if os.path.exists(manifest_path) else []
    specs = [
        # name, kind, root release, boost, yes_no, analysis, nclass, ntrees, depth, gz, double cuts
        ("tmva_bdtg", "bdtg", "6.24/06 [399366]", "Grad", False, 0, 1, 40, 3, False, True),
        ("tmva_bdtg_root5", "bdtg", "5.34/11 [336395]", "Grad", False, 0, 1, 30, 4, False, False),
        ("tmva_adaboost_yesno", "adaboost", "6.30/02 [401922]", "AdaBoost", True, 0, 1, 25, 3, True, True),
        ("tmva_adaboost_purity", "adaboost", "6.30/02 [401922]", "AdaBoost", False, 0, 1, 25, 4, False, False),
        ("tmva_bdtg_regression", "regression", "6.28/04 [400388]", "Grad", False, 1, 1, 30, 3, False, True),
        ("tmva_bdtg_multiclass", "multiclass", "6.28/04 [400388]", "Grad", False, 2, 3, 36, 3, False, False),
    ]
    rng = np.random.default_rng(2026)
    names = ["pt", "eta", "abs(dxy)", "chi2/ndof", "nhits"]
    for name, kind, release, boost, yes_no, analysis, nclass, ntrees, depth, gz, double_cuts in specs:
        trees = [random_tree(rng, len(names), 0, depth, double_cuts) for _ in range(ntrees)]
        weights = [float(rng.uniform(0.2, 1.5)) for _ in range(ntrees)]
        text = weight_file(release, boost, yes_no, analysis, nclass, names, trees, weights)
        model = name + ".weights.xml" + (".gz" if gz else "")
        if gz:
            with gzip.GzipFile(os.path.join(HERE, model), "wb", mtime=0) as f:
                f.write(text.encode())
        else:
            open(os.path.join(HERE, model), "w").write(text)
        greater_equal = not release.startswith("5.34/11")
        x = inputs(rng, trees, len(names), 200)
        margins, preds = [], []
        for row in x:
            m, p = evaluate(kind, trees, weights, row, greater_equal, yes_no, nclass)
            margins.append(m)
            preds.append(p)
        x.tofile(os.path.join(HERE, name + ".x.f32"))
        np.array(preds, dtype=np.float64).tofile(os.path.join(HERE, name + ".pred.f64"))
        entry = {"name": name, "format": "tmva-xml", "model": model, "trainer": "hand-written (TMVA format)",
                 "objective": kind, "rows": len(x), "features": len(names),
                 "outputs": nclass, "prediction_width": len(preds[0]), "precision": "float64"}
        if margins[0] is not None:
            np.array(margins, dtype=np.float64).tofile(os.path.join(HERE, name + ".margin.f64"))
        else:
            entry["no_margins"] = True
        manifest = [e for e in manifest if e["name"] != name] + [entry]
    # a file with an input transformation: rejected by the loader, with its name
    trees = [random_tree(rng, len(names), 0, 2, False) for _ in range(3)]
    open(os.path.join(HERE, "tmva_normalize.weights.xml"), "w").write(
        weight_file("6.30/02 [401922]", "Grad", False, 0, 1, names, trees, [1.0] * 3, transform=True))
    manifest = transformation_fixtures(manifest, names)
    manifest.sort(key=lambda e: e["name"])
    with open(manifest_path, "w") as f:
        json.dump({"fixtures": manifest}, f, indent=1)
        f.write("\n")


def transformation_fixtures(manifest, names):
    """BDTs behind TMVA input transformations (own random stream: the fixtures above do not change)."""
    rng = np.random.default_rng(4711)
    labels = ["pt", "eta", "absdxy", "chi2ndof", "nhits"]  # Label != Expression for two variables
    specs = [
        # name, kind, boost, yes_no, analysis, nclass, steps
        ("tmva_bdtg_normalize", "bdtg", "Grad", False, 0, 1,
         lambda: [random_normalize(rng, [0, 1, 2, 3, 4], 3)]),
        ("tmva_adaboost_decorrelation", "adaboost", "AdaBoost", True, 0, 1,
         lambda: [random_decorrelation(rng, [0, 1, 3, 4], 3)]),
        ("tmva_bdtg_pca", "bdtg", "Grad", False, 0, 1, lambda: [random_pca(rng, [0, 1, 2, 3, 4], 3)]),
        ("tmva_bdtg_chain", "bdtg", "Grad", False, 0, 1,
         lambda: [random_normalize(rng, [0, 2, 3], 3), random_decorrelation(rng, [0, 1, 2, 3, 4], 3),
                  random_pca(rng, [1, 2, 4], 3)]),
        ("tmva_bdtg_multiclass_normalize", "multiclass", "Grad", False, 2, 3,
         lambda: [random_normalize(rng, [0, 1, 2, 3, 4], 4)]),
    ]
    for name, kind, boost, yes_no, analysis, nclass, make_steps in specs:
        steps = make_steps()
        trees = [random_tree(rng, len(names), 0, 3, True) for _ in range(30 if nclass == 1 else 36)]
        weights = [float(rng.uniform(0.2, 1.5)) for _ in range(len(trees))]
        text = weight_file("6.30/02 [401922]", boost, yes_no, analysis, nclass, names, trees, weights,
                           transformations_xml=transformations_xml(steps, labels, names), labels=labels)
        open(os.path.join(HERE, name + ".weights.xml"), "w").write(text)
        raw = rng.normal(size=(200, len(names))).astype(np.float32) * np.float32(1.5)
        raw[rng.random(raw.shape) < 0.03] = np.nan
        margins, preds = [], []
        for row in raw:
            m, p = evaluate(kind, trees, weights, apply_steps(steps, row), True, yes_no, nclass)
            margins.append(m)
            preds.append(p)
        raw.tofile(os.path.join(HERE, name + ".x.f32"))
        np.array(preds, dtype=np.float64).tofile(os.path.join(HERE, name + ".pred.f64"))
        np.array(margins, dtype=np.float64).tofile(os.path.join(HERE, name + ".margin.f64"))
        entry = {"name": name, "format": "tmva-xml", "model": name + ".weights.xml",
                 "trainer": "hand-written (TMVA format, input transformations)", "objective": kind,
                 "rows": len(raw), "features": len(names), "outputs": nclass, "prediction_width": len(preds[0]),
                 "precision": "float64", "input_transformations": [s.name for s in steps]}
        manifest = [e for e in manifest if e["name"] != name] + [entry]
    return manifest


if __name__ == "__main__":
    main()
