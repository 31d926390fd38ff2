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

Run from the repository root (numpy; scipy, where installed, cross-checks ErfInverse):
    python3 test/data/bdt/make_tmva_fixtures.py          # every TMVA fixture
    python3 test/data/bdt/make_tmva_fixtures.py gauss    # only the Gauss / Uniform ones
Writes NAME.weights.xml[.gz], NAME.x.f32 and NAME.pred.f64 (and NAME.margin.f64 where the sum of the
leaves is what TMVA itself sums first) and adds the fixtures to manifest.json.
"""
import bisect
import gzip
import json
import math
import os
import sys

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
    elif step.name == "Gauss":
        flat = "Flat" if p["flat"] else "Gauss"
        return (f'    <Transform Name="Gauss" FlatOrGauss="{flat}">\n' + selection_xml(step, labels, names) +
                gauss_body(step) + '    </Transform>\n')
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
        elif step.name == "Gauss":
            out = []
            for k in range(n):
                fine = step.params.setdefault("fine", {}).get(k)
                if fine is None:
                    fine = step.params["fine"][k] = fine_pdf(step.params["pdfs"][k][-1])
                c = get_val(fine, float(vals[k]))
                if step.params["flat"]:
                    out.append(np.float32(c))
                else:
                    a = 2.0 * c - 1.0
                    a = a if a <= 0.99999999 else 0.99999999
                    a = a if a >= -0.99999999 else -0.99999999
                    out.append(np.float32(1.414213562 * root_erf_inverse(a)))
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


# ---- Gauss and Uniform ("Flat") input transformations --------------------------------------------
# Written as VariableGaussTransform::AttachXMLTo writes them: <Transform Name="Gauss" FlatOrGauss=...>,
# <Selection>, then per input <Variable VarIndex="k"> with one <CumulativePDF_clsN> per class plus one
# for all classes, each a <PDF> (PDF::AddXMLTo: MinNSmooth="0" MaxNSmooth="0" InterpolMethod="1", i.e.
# kSpline1) holding the cumulative histogram: float32 contents (a TH1F) printed as "%.16e"
# (Tools::StringFromDouble), equidistant over [XMin, XMax] or with <HistogramBinning> edges. The
# histograms are built as VariableGaussTransform::GetCumulativeDist builds them from a training sample
# (edges v0 - 1e-4, v0, then every ~N/40 events, the last value; the cumulative sum over the total).
#
# The reference re-implements, in double, from ROOT's source (VariableGaussTransform::Transform,
# PDF::ReadXML / BuildSplinePDF / FillSplineToHist / GetVal, TMVA::TSpline1::Eval, TAxis::FindBin and
# GetBinCenter, TMath::ErfInverse):
#   read:  graph (centre_i, content_i); fine histogram of 10000 bins over [xmin, xmax]; at each fine
#          centre x: y = spline1(x) (linear between graph points, end segments extrapolating); if
#          y <= 1e-12: y = stored content of the bin holding x; content = float32(max(y, 1e-12))
#   eval:  bin = FindBin(x) clamped to [1, 10000]; neighbour towards x (bin 1 -> 2, bin 10000 -> 9999);
#          c = content(bin) + (x - centre(bin)) * dy / dx; c = max(c, 1e-12); clamp to [1e-9, 1 - 1e-9]
#   Flat:  y = float32(c)
#   Gauss: a = clamp(2c - 1, +-0.99999999); y = float32(1.414213562 * ErfInverse(a))
# ROOT's ErfInverse is not erfinv: it is a secant iteration on 1 - erfc(x) that stops once the residual
# or the relative step is below 1e-14 (its result can differ from the true erfinv by ~1e-14/erf'(x),
# ~1e-7 near the clamp), so the evaluator runs the same iteration (with the C library's erf/erfc, which
# Python's math module calls; ROOT's are Cephes'). check_erf_inverse() compares it with
# scipy.special.erfinv where scipy is installed.
TMVA_PDF_BINS = 10000


def cumulative_hist(rng, values, equidistant):
    """A cumulative TH1F as GetCumulativeDist makes it: (edges or (xmin, xmax)), float32 contents."""
    v = np.sort(np.asarray(values, dtype=np.float32))
    if equidistant:
        lo, hi = float(v[0]), float(v[-1])
        nb = 25
        counts = np.histogram(v.astype(np.float64), bins=nb, range=(lo, hi))[0]
        edges = None
    else:
        per = max(len(v) // 40, 10)
        e = [float(np.float32(v[0] - np.float32(1e-4))), float(v[0])]
        for i in range(per, len(v), per):
            if float(v[i]) > e[-1]:
                e.append(float(v[i]))
        if float(v[-1]) > e[-1]:
            e.append(float(v[-1]))
        edges = e
        counts = np.histogram(v.astype(np.float64), bins=np.array(e))[0]
        lo, hi = e[0], e[-1]
    total = float(np.sum(counts))
    contents, acc = [], 0.0
    for c in counts:
        acc += float(c)
        contents.append(float(np.float32(acc / total)))
    return {"edges": edges, "xmin": lo, "xmax": hi, "contents": contents}


def random_gauss(rng, inputs, nclass_blocks, flat, equidistant_input=None, scale=1.5):
    pdfs = []
    for k in range(len(inputs)):
        blocks = []
        for c in range(nclass_blocks):
            vals = rng.normal(loc=0.3 * c - 0.3, scale=scale, size=600) + (rng.exponential(1.0, 600) if k % 2 else 0)
            blocks.append(cumulative_hist(rng, vals, equidistant=(k == equidistant_input)))
        pdfs.append(blocks)
    return Step("Gauss", inputs, flat=flat, pdfs=pdfs)


def pdf_xml(h, indent):
    sp = " " * indent
    nb = len(h["contents"])
    equi = h["edges"] is None
    text = "".join("%.16e " % v for v in h["contents"])
    out = (f'{sp}<PDF Name="GaussTransform var cls" MinNSmooth="0" MaxNSmooth="0" InterpolMethod="1" KDE_type="0" '
           f'KDE_iter="0" KDE_border="0" KDE_finefactor="0.0000000000000000e+00">\n'
           f'{sp}  <Histogram Name="Cumulative_original" NBins="{nb}" XMin="{h["xmin"]:.16g}" XMax="{h["xmax"]:.16g}" '
           f'HasEquidistantBins="{1 if equi else 0}">\n{sp}    {text}\n{sp}  </Histogram>\n')
    if not equi:
        out += (f'{sp}  <HistogramBinning NBins="{nb}">\n{sp}    ' + "".join("%.16e " % e for e in h["edges"]) +
                f'\n{sp}  </HistogramBinning>\n')
    return out + f"{sp}</PDF>\n"


def gauss_body(step):
    body = ""
    for k, blocks in enumerate(step.params["pdfs"]):
        body += f'      <Variable VarIndex="{k}">\n'
        for c, h in enumerate(blocks):
            body += f"        <CumulativePDF_cls{c}>\n" + pdf_xml(h, 10) + f"        </CumulativePDF_cls{c}>\n"
        body += "      </Variable>\n"
    return body


class StoredHist:
    """The last class block of one input as the file holds it (the text read back)."""

    def __init__(self, h):
        self.contents = [float(np.float32(float("%.16e" % v))) for v in h["contents"]]
        self.n = len(self.contents)
        if h["edges"] is None:
            self.edges = None
            self.xmin, self.xmax = float("%.16g" % h["xmin"]), float("%.16g" % h["xmax"])
        else:
            self.edges = [float("%.16e" % e) for e in h["edges"]]
            self.xmin, self.xmax = self.edges[0], self.edges[-1]

    def centre(self, i):  # 0-based bin i
        if self.edges is None:
            w = (self.xmax - self.xmin) / float(self.n)
            return self.xmin + float(i) * w + 0.5 * w
        return self.edges[i] + 0.5 * (self.edges[i + 1] - self.edges[i])

    def content_at(self, x):
        if x < self.xmin or not x < self.xmax:
            return 0.0
        if self.edges is None:
            b = int(float(self.n) * (x - self.xmin) / (self.xmax - self.xmin))
        else:
            b = bisect.bisect_right(self.edges, x) - 1
        return self.contents[b] if b < self.n else 0.0


def fine_pdf(h):
    """PDF::BuildSplinePDF with kSpline1: the 10000 float32 contents over [xmin, xmax]."""
    st = StoredHist(h)
    xs = [st.centre(i) for i in range(st.n)]
    ys = st.contents
    w = (st.xmax - st.xmin) / float(TMVA_PDF_BINS)
    out = []
    for b in range(TMVA_PDF_BINS):
        x = st.xmin + float(b) * w + 0.5 * w
        i = min(max(bisect.bisect_right(xs, x) - 1, 0), st.n - 1)
        j = i + 1 if ((x > xs[i] and i != st.n - 1) or i == 0) else i - 1
        y = ys[i] + (x - xs[i]) * (ys[i] - ys[j]) / (xs[i] - xs[j])
        if y <= 1e-12:
            y = st.content_at(x)
        out.append(float(np.float32(y if y >= 1e-12 else 1e-12)))
    return st.xmin, st.xmax, out


def get_val(fine, x):
    """PDF::GetVal, then the Gauss transform's clamp."""
    xmin, xmax, c = fine
    n = len(c)
    if x < xmin:
        b = 0
    elif not x < xmax:
        b = n + 1
    else:
        b = 1 + int(float(n) * (x - xmin) / (xmax - xmin))
    b = min(max(b, 1), n)
    w = (xmax - xmin) / float(n)
    centre = lambda k: xmin + float(k - 1) * w + 0.5 * w
    nb = b + 1 if ((x > centre(b) and b != n) or b == 1) else b - 1
    v = c[b - 1] + (x - centre(b)) * (c[b - 1] - c[nb - 1]) / (centre(b) - centre(nb))
    v = v if v >= 1e-12 else 1e-12  # TMath::Max: a NaN gives 1e-12
    v = v if v <= 1.0 - 10e-10 else 1.0 - 10e-10
    return v if v >= 0.0 + 10e-10 else 0.0 + 10e-10


def root_erf_inverse(x):
    """TMath::ErfInverse's secant iteration (math/mathcore/src/TMath.cxx), re-written from the math."""
    eps, k = 1e-14, 0.8862269254527579
    ax = abs(x)
    if ax <= eps:
        return k * x
    if ax < 1.0:
        e = k * ax
        y0 = math.erf(0.9 * e)
        d = 0.1 * e
        for _ in range(50):
            y1 = 1.0 - math.erfc(e)
            dy1 = ax - y1
            if abs(dy1) < eps:
                return -e if x < 0 else e
            d *= dy1 / (y1 - y0)
            y0 = y1
            e += d
            if abs(d / e) < eps:
                return -e if x < 0 else e
    return 0.0


def check_erf_inverse():
    """The iteration against scipy's erfinv (where scipy is installed): within 1e-13 + 1e-6 relative
    near the clamp (ROOT's stopping rule), 1e-13 elsewhere."""
    try:
        from scipy.special import erfinv
    except ImportError:
        return "scipy not installed: ErfInverse not cross-checked"
    worst = 0.0
    for a in list(np.linspace(-0.99999999, 0.99999999, 20001)) + [1e-15, -1e-15, 0.5, 0.99999999]:
        got, want = root_erf_inverse(float(a)), float(erfinv(a))
        tol = 1e-13 + (1e-6 * abs(want) if abs(a) > 0.999 else 1e-12 * abs(want))
        assert abs(got - want) <= tol, (a, got, want)
        worst = max(worst, abs(got - want))
    return f"ErfInverse iteration within {worst:.2e} of scipy.special.erfinv"


def gauss_special_values(step, raw):
    """Rows with, on each transformed input, the stored bin edges and centres, the fine-histogram
    centres and edges, values just inside and outside the range, NaN and +-inf."""
    rows = []
    for k, v in enumerate(step.inputs):
        st = StoredHist(step.params["pdfs"][k][-1])
        xmin, xmax, _ = fine_pdf(step.params["pdfs"][k][-1])
        w = (xmax - xmin) / TMVA_PDF_BINS
        vals = [st.xmin, st.xmax, st.xmin - 1.0, st.xmax + 1.0, st.xmin - 1e-3, st.xmax + 1e-3, -1e30, 1e30,
                float("nan"), float("inf"), float("-inf")]
        vals += [st.edges[i] for i in range(0, st.n + 1, 3)] if st.edges else [st.xmin + i * (st.xmax - st.xmin) / st.n
                                                                              for i in range(st.n + 1)]
        vals += [st.centre(i) for i in range(0, st.n, 4)]
        vals += [xmin + (b + 0.5) * w for b in (0, 1, 2, 4999, 9997, 9998, 9999)]
        vals += [xmin + b * w for b in (1, 2, 5000, 9999)]
        f = [np.float32(x) for x in vals]
        f += [np.nextafter(x, np.float32(np.inf)) for x in f[:2]] + [np.nextafter(x, np.float32(-np.inf)) for x in f[:2]]
        for x in f:
            r = raw[len(rows) % len(raw)].copy()
            r[v] = x
            rows.append(r)
    return np.array(rows, dtype=np.float32)


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


def write_manifest(manifest_path, manifest):
    manifest.sort(key=lambda e: e["name"])
    with open(manifest_path, "w") as f:
        json.dump({"fixtures": manifest}, f, indent=1)
        f.write("\n")


def main(args):
    manifest_path = os.path.join(HERE, "manifest.json")
    manifest = json.load(open(manifest_path))["fixtures"] if os.path.exists(manifest_path) else []
    if args == ["gauss"]:  # only the Gauss / Uniform fixtures (the others do not change)
        write_manifest(manifest_path, gauss_fixtures(manifest, ["pt", "eta", "abs(dxy)", "chi2/ndof", "nhits"]))
        return
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
    manifest = gauss_fixtures(manifest, names)
    write_manifest(manifest_path, manifest)


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


def uniform_cuts(rng, node):
    """Cut values drawn in [0, 1] (the range of the Flat transform's output)."""
    if not node.leaf:
        node.cut = float(np.float32(rng.uniform(0.0, 1.0)))
        uniform_cuts(rng, node.left)
        uniform_cuts(rng, node.right)


def gauss_fixtures(manifest, names):
    """BDTs behind Gauss / Flat transformations (own random stream). Writes NAME.xt.f32 too: the
    reference transformed inputs, compared bit for bit with bdt::transform_inputs."""
    print(check_erf_inverse())
    rng = np.random.default_rng(9001)
    labels = ["pt", "eta", "absdxy", "chi2ndof", "nhits"]
    specs = [
        # name, kind, boost, yes_no, analysis, nclass, steps
        ("tmva_bdtg_gauss", "bdtg", "Grad", False, 0, 1,
         lambda: [random_gauss(rng, [0, 1, 2, 3, 4], 3, flat=False, equidistant_input=2)]),
        ("tmva_adaboost_uniform", "adaboost", "AdaBoost", True, 0, 1,
         lambda: [random_gauss(rng, [0, 2, 3], 3, flat=True, equidistant_input=1)]),
        ("tmva_bdtg_normalize_gauss", "bdtg", "Grad", False, 0, 1,
         lambda: [random_normalize(rng, [0, 1, 2, 3, 4], 3),
                  random_gauss(rng, [0, 1, 3, 4], 3, flat=False, scale=0.4)]),
    ]
    for name, kind, boost, yes_no, analysis, nclass, make_steps in specs:
        steps = make_steps()
        trees = [random_tree(rng, len(names), 0, 3, True) for _ in range(30)]
        if steps[-1].params["flat"]:
            for t in trees:
                uniform_cuts(rng, t)
        weights = [float(rng.uniform(0.2, 1.5)) for _ in range(len(trees))]
        text = weight_file("6.30/02 [401922]", boost, yes_no, analysis, nclass, names, trees, weights,
                           transformations_xml=transformations_xml(steps, labels, names), labels=labels)
        open(os.path.join(HERE, name + ".weights.xml"), "w").write(text)
        raw = rng.normal(size=(120, len(names))).astype(np.float32) * np.float32(1.5)
        raw[rng.random(raw.shape) < 0.03] = np.nan
        gauss_step = steps[-1]
        if len(steps) == 1:
            raw = np.concatenate([raw, gauss_special_values(gauss_step, raw)])
        xt, margins, preds = [], [], []
        for row in raw:
            t = apply_steps(steps, row)
            xt.append(t)
            m, p = evaluate(kind, trees, weights, t, True, yes_no, nclass)
            margins.append(m)
            preds.append(p)
        raw.tofile(os.path.join(HERE, name + ".x.f32"))
        np.array(xt, dtype=np.float32).tofile(os.path.join(HERE, name + ".xt.f32"))
        np.array(preds, dtype=np.float64).tofile(os.path.join(HERE, name + ".pred.f64"))
        np.array(margins, dtype=np.float64).tofile(os.path.join(HERE, name + ".margin.f64"))
        entry = {"name": name, "format": "tmva-xml", "model": name + ".weights.xml",
                 "trainer": "hand-written (TMVA format, input transformations)", "objective": kind,
                 "rows": len(raw), "features": len(names), "outputs": nclass, "prediction_width": len(preds[0]),
                 "precision": "float64",
                 "input_transformations": [("Uniform" if s.name == "Gauss" and s.params["flat"] else s.name)
                                           for s in steps]}
        manifest = [e for e in manifest if e["name"] != name] + [entry]
    return manifest


if __name__ == "__main__":
    main(sys.argv[1:])
