"""Self-check of the PyTorch reference and of its fixtures.

    /usr/bin/python3 tests/reference/check_reference.py [--skip-regenerate]

(a) analytic gradients against float64 central finite differences (every parameter tensor of
    every module, a few entries each) on the tiny configurations of the fixtures;
(b) the decoder loop equals one nn.LSTM call over [u, 0, 0, ...] with weight_hh := W_ih + W_hh,
    outputs and gradients (dW_ih = dW_layer + dW_iter, dW_hh = dW_iter);
(c) every fixture re-read: well-formed safetensors, complete and correctly shaped, finite, and
    reproduced by a fresh forward/backward and three steps from its own parameters;
(d) building blocks against independent formulations: sparsemax against a bisection
    projection onto the simplex, vCLUB against its O(N d) closed form; state_dict names
    against MODEL.md section 9 for every switch combination;
(e) determinism: the generator run again gives byte-identical files;
(f) the switches without a fixture (cached, club_sample, dropout, clipping, K = 0) run, stay
    finite and change the result; both modalities missing and no label stay finite;
(g) new garbage in the padding changes nothing, bit for bit.
Exits non-zero on any failure.
"""
import argparse
import copy
import filecmp
import os
import re
import sys
import tempfile
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import mird_torch as mt  # noqa: E402

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message)


def fixture_setup(name, dtype=torch.float32, extra=None):
    preset_name, overrides, layout, seed, _ = mf.FIXTURES[name]
    cfg = mt.preset(preset_name, **{**overrides, **mf.NO_DROPOUT, **(extra or {})})
    model = mt.build_model(cfg, seed)
    batch = mf.make_batch(cfg, layout, torch.Generator().manual_seed(seed + 1000))
    if dtype == torch.float64:
        model = copy.deepcopy(model).double()
        batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
    return cfg, model, batch


# --------------------------------------------------------------------------------------------
# (a) finite differences
# --------------------------------------------------------------------------------------------
class FrozenNormOrthogonality:
    """For oc_detach_norm: the row norms recorded at the base point, then used as constants,
    so that finite differences of this surrogate give what detaching the norms should give."""

    def __init__(self):
        self.norms, self.recording, self.position = [], True, 0

    def __call__(self, a, b, detach_norm, eps):
        def prepare(x):
            x = x - x.mean(dim=0, keepdim=True)
            if self.recording:
                self.norms.append(x.norm(p=2, dim=1, keepdim=True).detach())
                norm = self.norms[-1]
            else:
                norm = self.norms[self.position % len(self.norms)]
                self.position += 1
            return x / (norm + eps)
        return ((prepare(a).t() @ prepare(b)) ** 2).mean()


def finite_difference(loss_fn, flat, i, h):
    keep = flat[i].item()
    with torch.no_grad():
        flat[i] = keep + h
        up = loss_fn().item()
        flat[i] = keep - h
        down = loss_fn().item()
        flat[i] = keep
        base = loss_fn().item()
    return (up - down) / (2 * h), (up - base) / h, (base - down) / h


def gradcheck_config(name, entries, extra=None, h=1e-6, rtol=1e-5, atol=1e-8):
    """Central differences with step h; an entry that misses is retried with h/10 and its
    one-sided differences (a kink of ReLU, sparsemax's support or alpha's min within h of the
    point), and counted as such."""
    cfg, model, batch = fixture_setup(name, torch.float64, extra)
    model.train()
    perms = None
    if cfg.club_sample:
        perms = mt.random_perms(cfg, batch["labels"].shape[0], torch.Generator().manual_seed(5))
    surrogate = None
    if cfg.constraint == "oc" and cfg.oc_detach_norm:
        surrogate = FrozenNormOrthogonality()
        with mock.patch.object(mt, "orthogonality", surrogate):
            mt.forward_losses(model, batch, perms)   # records the base point's norms
        surrogate.recording = False

    def total():
        if surrogate is None:
            return mt.forward_losses(model, batch, perms)["total"]
        with mock.patch.object(mt, "orthogonality", surrogate):
            return mt.forward_losses(model, batch, perms)["total"]

    def est_loss():
        codes = mt.forward_losses(model, batch, perms)["codes"]
        return mt.estimator_loss(model, codes, batch)

    worst_rel, worst_abs, count, kinks = 0.0, 0.0, 0, 0
    gen = torch.Generator().manual_seed(7)
    for loss_fn, named in ((total, model.model_named_parameters()),
                           (est_loss, model.estimator_named_parameters())):
        model.zero_grad(set_to_none=True)
        analytic_loss = est_loss if loss_fn is est_loss else \
            (lambda: mt.forward_losses(model, batch, perms)["total"])  # the real detach
        analytic_loss().backward()
        analytic = {n: p.grad.detach().clone() for n, p in named}
        for pname, p in named:
            flat = p.data.view(-1)
            g = analytic[pname].view(-1)
            picks = {int(torch.argmax(g.abs()))}
            picks.update(int(i) for i in torch.randint(0, flat.numel(), (entries,), generator=gen))
            for i in sorted(picks):
                a = g[i].item()
                numeric = finite_difference(loss_fn, flat, i, h)[0]
                err = abs(numeric - a)
                if err > atol + rtol * abs(numeric):
                    fine = finite_difference(loss_fn, flat, i, h / 10)
                    err = min(abs(x - a) for x in fine)
                    numeric = fine[0]
                    kinks += 1
                count += 1
                if max(abs(numeric), abs(a)) > 1e-4:
                    worst_rel = max(worst_rel, err / max(abs(numeric), abs(a)))
                worst_abs = max(worst_abs, err)
                check(err <= 10 * atol + rtol * abs(numeric),
                      "%s: d/d %s[%d] analytic %.10g numeric %.10g" % (name, pname, i, a, numeric))
    label = name + "".join(" %s=%s" % kv for kv in (extra or {}).items())
    print("(a) %-46s %4d entries  max abs err %.1e  max rel err (|g| > 1e-4) %.1e  "
          "kinks retried %d%s" % (label, count, worst_abs, worst_rel, kinks,
                                  "  (norms frozen)" if surrogate is not None else ""))


def float32_vs_float64(name):
    """How far the float32 reference's gradients sit from float64's (informational)."""
    worst = 0.0
    grads = []
    for dtype in (torch.float32, torch.float64):
        cfg, model, batch = fixture_setup(name, dtype)
        model.train()
        model.zero_grad(set_to_none=True)
        mt.forward_losses(model, batch)["total"].backward()
        grads.append({n: p.grad.double() for n, p in model.model_named_parameters()})
    floor = 1e-3 * max(g.abs().max().item() for g in grads[1].values())
    for n, g64 in grads[1].items():
        scale = max(g64.abs().max().item(), floor)
        worst = max(worst, (grads[0][n] - g64).abs().max().item() / scale)
    print("(a) float32 vs float64 gradients, %s: max over tensors of max|diff| / max(max|g|, "
          "1e-3 max|g_all|) = %.1e" % (name, worst))


# --------------------------------------------------------------------------------------------
# (b) the decoder loop against the folded single-LSTM formulation
# --------------------------------------------------------------------------------------------
def check_decoder_folding():
    torch.manual_seed(3)
    width, steps, b = 16, 9, 5
    dec = mt.Decoder(width, 7).double()
    u = torch.randn(b, width, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(b, steps, width, dtype=torch.float64)

    loop = dec.hidden_states(u, steps)
    (loop * weights).sum().backward()
    lstm = dec.lstm
    loop_grads = {n: p.grad.clone() for n, p in lstm.named_parameters()}
    du_loop = u.grad.clone()

    folded = torch.nn.LSTM(width, width, batch_first=True).double()
    with torch.no_grad():
        folded.weight_ih_l0.copy_(lstm.weight_ih_l0)
        folded.weight_hh_l0.copy_(lstm.weight_ih_l0 + lstm.weight_hh_l0)
        folded.bias_ih_l0.copy_(lstm.bias_ih_l0)
        folded.bias_hh_l0.copy_(lstm.bias_hh_l0)
    u2 = u.detach().clone().requires_grad_(True)
    inputs = torch.cat([u2[:, None, :], torch.zeros(b, steps - 1, width, dtype=torch.float64)], 1)
    out, _ = folded(inputs)
    (out * weights).sum().backward()

    diffs = {
        "h": (out - loop).abs().max().item(),
        "du": (u2.grad - du_loop).abs().max().item(),
        "dW_ih": (folded.weight_ih_l0.grad + folded.weight_hh_l0.grad
                  - loop_grads["weight_ih_l0"]).abs().max().item(),
        "dW_hh": (folded.weight_hh_l0.grad - loop_grads["weight_hh_l0"]).abs().max().item(),
        "db_ih": (folded.bias_ih_l0.grad - loop_grads["bias_ih_l0"]).abs().max().item(),
        "db_hh": (folded.bias_hh_l0.grad - loop_grads["bias_hh_l0"]).abs().max().item(),
    }
    for key, value in diffs.items():
        check(value < 1e-12, "decoder folding: %s differs by %.3g" % (key, value))
    print("(b) decoder loop vs nn.LSTM([u,0,..], W_hh := W_ih + W_hh), float64, %d steps: %s"
          % (steps, "  ".join("%s %.1e" % kv for kv in diffs.items())))


# --------------------------------------------------------------------------------------------
# (d) building blocks
# --------------------------------------------------------------------------------------------
def simplex_projection_bisection(z):
    """argmin_p ||p - z||^2 over the simplex, tau found by bisection (independent of sorting)."""
    lo, hi = z.max() - 1.0, z.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(z - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(z - 0.5 * (lo + hi), 0)


SECTION9 = re.compile("|".join([
    r"(agnostic|language)\.embeddings\.(word_embeddings|position_embeddings|token_type_embeddings"
    r"|feature_proj|LayerNorm)\.(weight|bias)",
    r"agnostic\.wsa\.(key_a|key_v|gate_a|gate_v|shift_a|shift_v|LayerNorm)\.(weight|bias)",
    r"(agnostic|language)\.encoder\.layer\.\d+\.(attention\.self\.(query|key|value)"
    r"|attention\.output\.(dense|LayerNorm)|intermediate\.dense|output\.(dense|LayerNorm))"
    r"\.(weight|bias)",
    r"(agnostic|language)\.(pooler\.dense|proj)\.(weight|bias)",
    r"language\.embedding\.weight",
    r"(language|audio|visual|decoder\.(language|audio|visual))\.lstm\."
    r"(weight_ih_l0|weight_hh_l0|bias_ih_l0|bias_hh_l0)",
    r"(audio|visual)\.proj\.(weight|bias)",
    r"decoder\.(language|audio|visual)\.out\.(weight|bias)",
    r"regressor\.fc[12]\.(weight|bias)",
    r"club\.(l_a|l_v|a_v|s_l|s_a|s_v|s_xa|s_xv)\.(mu|logvar)\.[02]\.(weight|bias)"]))


def check_names():
    """state_dict names are those of MODEL.md section 9, for every switch combination."""
    count = 0
    for text_mode in mt.TEXT_MODES:
        for encoder in mt.LANGUAGE_ENCODERS:
            for input_mi in (True, False):
                cfg = mt.preset("tiny", text_mode=text_mode, language_encoder=encoder,
                                input_mi=input_mi)
                names = list(mt.MirdModel(cfg).state_dict())
                bad = [n for n in names if not SECTION9.fullmatch(n)]
                check(not bad, "names outside section 9: %s" % bad[:5])
                check(any(n.startswith("club.s_xa") for n in names) == input_mi,
                      "input_mi does not govern club.s_xa")
                count += len(names)
    print("(d) state_dict names match MODEL.md section 9 for all text_mode x language_encoder x "
          "input_mi combinations (%d names)" % count)


def check_blocks():
    gen = torch.Generator().manual_seed(11)
    scores = torch.randn(40, 9, generator=gen, dtype=torch.float64) * 2
    lengths = torch.randint(0, 10, (40,), generator=gen)
    valid = torch.arange(9)[None, :] < lengths[:, None]
    p = mt.sparsemax(scores, valid)
    worst = 0.0
    for row in range(40):
        n = int(lengths[row])
        ref = np.zeros(9)
        if n > 0:
            ref[:n] = simplex_projection_bisection(scores[row, :n].numpy())
        worst = max(worst, float(np.abs(ref - p[row].numpy()).max()))
    check(worst < 1e-12, "sparsemax vs bisection: %.3g" % worst)
    check(bool((p[~valid] == 0).all()), "sparsemax: masked entries not exactly 0")

    club = mt.Club(6, 5, 8).double()
    x = torch.randn(7, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    mu, logvar = club.mu(x), club.logvar(x)
    neg = (y * y).mean(0) - 2 * mu * y.mean(0) + mu * mu
    closed = ((-(mu - y) ** 2 + neg) / (2 * torch.exp(logvar))).sum(-1).mean()
    diff = abs(closed.item() - club.estimate(x, y).item())
    check(diff < 1e-12, "vCLUB pairwise vs closed form: %.3g" % diff)
    print("(d) sparsemax vs bisection projection: max diff %.1e over 40 masked rows; "
          "vCLUB pairwise vs O(N d) closed form: %.1e" % (worst, diff))


def smoke_switches():
    """Switches without a fixture (their randomness is torch's, not libmird's): they run, stay
    finite, and change what they should."""
    base = dict(mf.NO_DROPOUT)
    runs = {}
    for label, extra in (("default", {}), ("cached", {"estimator_inputs": "cached"}),
                         ("club_sample", {"club_sample": True}),
                         ("dropout", {k: 0.3 for k in base}),
                         ("clip", {"max_grad_norm": 0.05}), ("K=0", {"K": 0})):
        preset_name, overrides, layout, seed, _ = mf.FIXTURES["tiny_features_transformer_mim_log"]
        cfg = mt.preset(preset_name, **{**overrides, **base, **extra})
        torch.manual_seed(0)
        model = mt.build_model(cfg, seed)
        batch = mf.make_batch(cfg, layout, torch.Generator().manual_seed(seed + 1000))
        opt, est_opt = mt.make_optimizers(model)
        reports = [mt.mird_step(model, model.club, opt, est_opt, batch,
                                torch.Generator().manual_seed(1)) for _ in range(2)]
        values = [r["total"] for r in reports] + sum((r["estimator_losses"] for r in reports), [])
        check(all(np.isfinite(values)), "smoke %s: non-finite" % label)
        runs[label] = reports[-1]
    for label in ("cached", "club_sample", "dropout", "clip"):
        check(runs[label]["total"] != runs["default"]["total"], "smoke: %s changed nothing" % label)
    check(runs["K=0"]["estimator"] is None, "smoke: K=0 still trained the estimators")

    # a sample with both audio and visual missing (Hs = 0: alpha's where), and no labeled sample
    cfg, model, batch = fixture_setup("tiny_features_transformer_mim_log")
    batch["audio_lengths"][0] = 0
    batch["vision_lengths"][0] = 0
    batch["labeled"][:] = 0
    out = mt.forward_losses(model, batch)
    out["total"].backward()
    finite = all(p.grad is None or bool(torch.isfinite(p.grad).all())
                 for _, p in model.model_named_parameters())
    check(out["task"] is None and finite and bool(torch.isfinite(out["total"])),
          "smoke: both modalities missing / no label gives non-finite values")
    print("(f) switches without a fixture run and matter: %s"
          % ", ".join("%s total %.6f" % (k, v["total"]) for k, v in runs.items()))


def padding_invariance():
    """With mask_padding, new garbage in every padded frame / token and in the unlabeled samples'
    labels changes no output, loss or gradient (bit for bit)."""
    for name in ("tiny_features_transformer_mim_log", "tiny_tokens_lstm_mim_weighted"):
        results = []
        for garbage_seed in (0, 1):
            cfg, model, batch = fixture_setup(name)
            gen = torch.Generator().manual_seed(garbage_seed)
            for key, steps in (("text", cfg.T_l), ("audio", cfg.T_a), ("vision", cfg.T_v)):
                pad = ~mt.step_mask(batch[key + "_lengths"], steps)
                data = batch[key]
                if data.is_floating_point():
                    noise = 50 * torch.randn(data.shape, generator=gen)
                    batch[key] = torch.where(pad[:, :, None], noise, data)
                else:
                    noise = torch.randint(0, cfg.vocab, data.shape, generator=gen,
                                          dtype=data.dtype)
                    batch[key] = torch.where(pad, noise, data)
            batch["labels"] = torch.where(batch["labeled"] > 0, batch["labels"],
                                          torch.randn(batch["labels"].shape, generator=gen))
            out = mt.forward_losses(model, batch)
            out["total"].backward()
            results.append([out["total"].detach(), out["pred"].detach()]
                           + [p.grad.clone() for _, p in model.model_named_parameters()])
        same = all(torch.equal(a, b) for a, b in zip(*results))
        check(same, "%s: padding garbage changed the result" % name)
        print("(g) %s: new padding garbage leaves total, predictions and every gradient "
              "bit-identical: %s" % (name, "yes" if same else "NO"))


# --------------------------------------------------------------------------------------------
# (c) fixtures
# --------------------------------------------------------------------------------------------
def expected_layout(cfg, model, b):
    """name -> (dtype, shape) every fixture of this config must hold."""
    layout = {}
    for n, p in model.named_parameters():
        for prefix in ("param.", "grad.", "final.param."):
            layout[prefix + n] = ("F32", list(p.shape))
    tokens = cfg.text_mode == "tokens"
    layout["batch.text"] = ("I32", [b, cfg.T_l]) if tokens else ("F32", [b, cfg.T_l, cfg.d_l])
    layout["batch.audio"] = ("F32", [b, cfg.T_a, cfg.d_a])
    layout["batch.vision"] = ("F32", [b, cfg.T_v, cfg.d_v])
    for key in ("text_lengths", "audio_lengths", "vision_lengths", "labeled"):
        layout["batch." + key] = ("I32", [b])
    layout["batch.labels"] = ("F32", [b])
    layout["out.pred"] = ("F32", [b])
    for code in "slav":
        layout["out.code_" + code] = ("F32", [b, cfg.z])
    for key in ("task", "rec_l", "rec_a", "rec_v", "constraint", "total", "estimator"):
        layout["loss." + key] = ("F32", [1])
    for pair, _, _ in mt.pairs_of(cfg):
        layout["mi." + pair] = ("F32", [1])
    layout["steps.total"] = ("F32", [mf.STEPS])
    layout["steps.estimator"] = ("F32", [mf.STEPS])
    return layout


def check_fixture(path):
    name = os.path.basename(path)[:-len(".safetensors")]
    tensors, meta = mt.load_safetensors(path)
    with open(path, "rb") as f:
        header_length = int.from_bytes(f.read(8), "little")
    check(header_length % 8 == 0, "%s: header length %d not a multiple of 8"
          % (name, header_length))
    for key in ("config", "torch_version", "description"):
        check(key in meta, "%s: metadata lacks %s" % (name, key))
    cfg = mt.MirdConfig.from_json(meta["config"])
    check(cfg.p_h == cfg.p_wsa == cfg.p_proj == cfg.p_reg == 0, "%s: dropout not 0" % name)
    model = mt.MirdModel(cfg)
    b = tensors["batch.labels"].shape[0]
    layout = expected_layout(cfg, model, b)
    names = set(tensors)
    check(names == set(layout), "%s: names differ: missing %s, extra %s"
          % (name, sorted(set(layout) - names)[:5], sorted(names - set(layout))[:5]))
    dtype_names = {np.dtype("<f4"): "F32", np.dtype("<i4"): "I32"}
    for key, (dtype, shape) in layout.items():
        if key not in tensors:
            continue
        array = tensors[key]
        check(dtype_names.get(array.dtype) == dtype and list(array.shape) == shape,
              "%s: %s is %s %s, expected %s %s" % (name, key, array.dtype, list(array.shape),
                                                 dtype, shape))
        check(np.isfinite(array).all(), "%s: %s not finite" % (name, key))

    # the batch honours its promises: garbage in padding, the required edge cases
    lengths = {m: tensors["batch.%s_lengths" % m] for m in ("text", "audio", "vision")}
    for m, steps in (("text", cfg.T_l), ("audio", cfg.T_a), ("vision", cfg.T_v)):
        check((lengths[m] < steps).any(), "%s: no padding in %s" % (name, m))
        check(((lengths[m] >= 0) & (lengths[m] <= steps)).all(), "%s: bad %s lengths" % (name, m))
        data = tensors["batch." + m]
        for i in range(b):
            pad = data[i, lengths[m][i]:]
            check(pad.size == 0 or (pad != 0).all(), "%s: zero padding in %s[%d]" % (name, m, i))
    check((lengths["audio"] == 0).any() and (lengths["vision"] == 0).any(),
          "%s: no missing audio / vision sample" % name)
    check((tensors["batch.labeled"] == 0).sum() >= 2, "%s: fewer than 2 unlabeled" % name)
    if cfg.text_mode == "tokens":
        check(((tensors["batch.text"] >= 0) & (tensors["batch.text"] < cfg.vocab)).all(),
              "%s: ids out of range" % name)

    # a fresh computation from the fixture's own parameters reproduces it
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.from_numpy(tensors["param." + n].copy()))
    batch = {k[len("batch."):]: torch.from_numpy(v.copy())
             for k, v in tensors.items() if k.startswith("batch.")}
    model.train()
    out = mt.forward_losses(model, batch)
    model.zero_grad(set_to_none=True)
    out["total"].backward()
    worst = 0.0

    def compare(key, value):
        nonlocal worst
        stored = tensors[key].astype(np.float64)
        diff = float(np.abs(stored - value.detach().double().numpy()).max())
        worst = max(worst, diff / max(1.0, float(np.abs(stored).max())))

    compare("loss.total", out["total"].reshape(1))
    compare("out.pred", out["pred"])
    for n, p in model.model_named_parameters():
        compare("grad." + n, p.grad)
    opt, est_opt = mt.make_optimizers(model)
    totals = [mt.mird_step(model, model.club, opt, est_opt, batch)["total"]
              for _ in range(mf.STEPS)]
    compare("steps.total", torch.tensor(totals, dtype=torch.float32))
    for n, p in model.named_parameters():
        compare("final.param." + n, p)
    check(worst <= 1e-6, "%s: recomputation differs by %.3g" % (name, worst))
    check(tensors["steps.total"][0] == tensors["loss.total"][0],
          "%s: steps.total[0] != loss.total" % name)
    size = os.path.getsize(path)
    print("(c) %-46s %7d bytes  %3d tensors  recompute diff %.1e  ok"
          % (name, size, len(tensors), worst))
    return size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-regenerate", action="store_true")
    parser.add_argument("--fd-entries", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    gradcheck_config("tiny_features_transformer_mim_log", args.fd_entries)
    for name in mf.FIXTURES:
        if name.startswith("tiny_") and name != "tiny_features_transformer_mim_log":
            gradcheck_config(name, 1)
    gradcheck_config("tiny_features_transformer_mim_log", 1, {"club_sample": True})
    float32_vs_float64("tiny_features_transformer_mim_log")
    check_decoder_folding()
    check_blocks()
    check_names()
    smoke_switches()
    padding_invariance()

    total = 0
    for name in mf.FIXTURES:
        total += check_fixture(os.path.join(mf.HERE, "fixtures", name + ".safetensors"))
    print("(c) all fixtures: %d bytes" % total)

    if not args.skip_regenerate:
        with tempfile.TemporaryDirectory() as tmp:
            mf.main(["--out", tmp])
            for name in mf.FIXTURES:
                file = name + ".safetensors"
                same = filecmp.cmp(os.path.join(tmp, file),
                                   os.path.join(mf.HERE, "fixtures", file), shallow=False)
                check(same, "%s: regenerated file differs" % file)
        print("(e) regenerated fixtures are byte-identical: %s"
              % ("yes" if not FAILURES else "see failures"))

    if FAILURES:
        print("%d FAILURE(S)" % len(FAILURES))
        sys.exit(1)
    print("ALL CHECKS PASSED")


if __name__ == "__main__":
    main()
