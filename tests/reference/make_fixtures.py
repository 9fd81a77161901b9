"""Write the reference fixtures the C library's tests compare against (tests/reference/fixtures).

    /usr/bin/python3 tests/reference/make_fixtures.py [--out DIR] [--only NAME ...]

Deterministic: running it twice gives byte-identical files. All dropout rates are 0.
See README.md in this folder for the layout.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mird_torch as mt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 3
NO_DROPOUT = dict(p_h=0.0, p_wsa=0.0, p_proj=0.0, p_reg=0.0)

# name -> (preset, config overrides, batch layout, seed, description)
TINY_LAYOUT = dict(B=5, text=(6, 4, 6, 0, 3), audio=(8, 0, 5, 8, 3), vision=(10, 7, 0, 4, 10),
                   labeled=(1, 1, 0, 1, 0))
TINY_LAYOUT_NONEMPTY_TEXT = dict(TINY_LAYOUT, text=(6, 4, 6, 1, 3))
# "small": more layers, heads and steps than tiny, every width distinct (transposition bugs show)
SMALL = dict(T_l=12, d_l=18, max_positions=12, H=20, layers=2, heads=4, d_ff=36, T_a=20, d_a=5,
             T_v=16, d_v=7, z=10, r=6, club_hidden=12)
SMALL_LAYOUT = dict(B=6, text=(12, 7, 12, 0, 5, 9), audio=(20, 0, 13, 20, 4, 17),
                    vision=(16, 9, 0, 11, 16, 3), labeled=(1, 1, 0, 1, 0, 1))

FIXTURES = {
    "tiny_features_transformer_mim_log": (
        "tiny", {}, TINY_LAYOUT, 101,
        "default configuration on the tiny preset; text length 0 on sample 3"),
    "tiny_features_lstm_mim_log": (
        "tiny", {"language_encoder": "lstm"}, TINY_LAYOUT, 102,
        "LSTM language encoder over text features; text length 0 on sample 3"),
    "tiny_tokens_transformer_mim_log": (
        "tiny", {"text_mode": "tokens"}, TINY_LAYOUT, 103,
        "token ids, BERT embeddings, cross-entropy text reconstruction; text length 0 on sample 3"),
    "tiny_features_transformer_oc_weighted": (
        "tiny", {"constraint": "oc", "total": "weighted", "w_l": 0.5, "w_a": 2.0, "w_v": 1.5,
                 "lam": 0.3}, TINY_LAYOUT_NONEMPTY_TEXT, 104,
        "orthogonality constraint differentiated through the norms, weighted total"),
    "tiny_features_transformer_oc_detach_log": (
        "tiny", {"constraint": "oc", "oc_detach_norm": True}, TINY_LAYOUT_NONEMPTY_TEXT, 105,
        "orthogonality constraint with detached norms (MISA's code), log total"),
    "tiny_features_transformer_none_log": (
        "tiny", {"constraint": "none"}, TINY_LAYOUT_NONEMPTY_TEXT, 106,
        "no constraint (estimators are still trained and reported)"),
    "tiny_features_transformer_mim_log_nopadmask": (
        "tiny", {"mask_padding": False, "input_mi": False}, TINY_LAYOUT_NONEMPTY_TEXT, 107,
        "released-code behaviour: padding reconstructed, six MI terms"),
    "tiny_tokens_lstm_mim_weighted": (
        "tiny", {"text_mode": "tokens", "language_encoder": "lstm", "total": "weighted",
                 "lam": 0.1}, TINY_LAYOUT, 108,
        "token ids, LSTM language encoder over a learned embedding, weighted total; "
        "text length 0 on sample 3"),
    "small_features_transformer_mim_log": (
        "tiny", SMALL, SMALL_LAYOUT, 109,
        "larger shapes: 2 layers, 4 heads, B = 6; text length 0 on sample 3"),
}


def make_batch(cfg, layout, gen):
    """Valid frames N(0, 1); padded frames (and all frames of an empty modality) hold garbage
    of magnitude 2..5 with random signs, so that any masking error shows."""
    b = layout["B"]

    def lengths(key):
        return torch.tensor(layout[key], dtype=torch.int32)

    def frames(steps, width, n):
        valid = torch.randn(b, steps, width, generator=gen)
        garbage = (2 + 3 * torch.rand(b, steps, width, generator=gen)) * \
            torch.where(torch.rand(b, steps, width, generator=gen) < 0.5, -1.0, 1.0)
        mask = (torch.arange(steps)[None, :] < n[:, None])[:, :, None]
        return torch.where(mask, valid, garbage)

    batch = {}
    n_l = lengths("text")
    if cfg.text_mode == "tokens":
        batch["text"] = torch.randint(1, cfg.vocab, (b, cfg.T_l), generator=gen,
                                      dtype=torch.int32)
    else:
        batch["text"] = frames(cfg.T_l, cfg.d_l, n_l)
    batch["text_lengths"] = n_l
    batch["audio"] = frames(cfg.T_a, cfg.d_a, lengths("audio"))
    batch["audio_lengths"] = lengths("audio")
    batch["vision"] = frames(cfg.T_v, cfg.d_v, lengths("vision"))
    batch["vision_lengths"] = lengths("vision")
    labeled = lengths("labeled")
    labels = torch.empty(b).uniform_(-3, 3, generator=gen)
    # unlabeled samples carry a garbage label: it must be ignored
    batch["labels"] = torch.where(labeled > 0, labels, torch.full_like(labels, 100.0))
    batch["labeled"] = labeled
    return batch


def scalar(value):
    return value.detach().reshape(1).to(torch.float32).clone()


def build_fixture(name):
    preset_name, overrides, layout, seed, description = FIXTURES[name]
    cfg = mt.preset(preset_name, **dict(overrides, **NO_DROPOUT))
    model = mt.build_model(cfg, seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    batch = make_batch(cfg, layout, gen)

    tensors = {}
    for pname, p in model.named_parameters():
        tensors["param." + pname] = p.detach().clone()
    for key in ("text", "text_lengths", "audio", "audio_lengths", "vision", "vision_lengths",
                "labels", "labeled"):
        tensors["batch." + key] = batch[key]

    # one forward on the initial weights, gradients of the total and of the estimator loss
    model.train()
    out = mt.forward_losses(model, batch)
    model.zero_grad(set_to_none=True)
    out["total"].backward()
    model_grads = {n: p.grad.detach().clone() for n, p in model.model_named_parameters()}
    model.zero_grad(set_to_none=True)
    est_loss = mt.estimator_loss(model, out["codes"], batch)
    est_loss.backward()
    est_grads = {n: p.grad.detach().clone() for n, p in model.estimator_named_parameters()}
    model.zero_grad(set_to_none=True)

    tensors["out.pred"] = out["pred"].detach()
    for code in ("s", "l", "a", "v"):
        tensors["out.code_" + code] = out["codes"][code].detach()
    for key in ("task", "rec_l", "rec_a", "rec_v"):
        if out[key] is not None:
            tensors["loss." + key] = scalar(out[key])
    constraint = out["constraint"] if out["constraint"] is not None else torch.zeros(())
    tensors["loss.constraint"] = scalar(constraint)
    tensors["loss.total"] = scalar(out["total"])
    tensors["loss.estimator"] = scalar(est_loss)
    for pair, value in out["mi"].items():
        tensors["mi." + pair] = scalar(value)
    for pname, g in model_grads.items():
        tensors["grad." + pname] = g
    for pname, g in est_grads.items():
        tensors["grad." + pname] = g

    # three training steps from the initial weights
    opt, est_opt = mt.make_optimizers(model)
    totals, est_last = [], []
    for _ in range(STEPS):
        report = mt.mird_step(model, model.club, opt, est_opt, batch)
        totals.append(report["total"])
        est_last.append(report["estimator"])
    tensors["steps.total"] = torch.tensor(totals, dtype=torch.float32)
    tensors["steps.estimator"] = torch.tensor(est_last, dtype=torch.float32)
    for pname, p in model.named_parameters():
        tensors["final.param." + pname] = p.detach().clone()

    metadata = {"config": cfg.to_json(), "torch_version": torch.__version__,
                "description": description, "fixture": name, "seed": str(seed),
                "format": "libmird-reference-1"}
    return tensors, metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    parser.add_argument("--only", nargs="*", choices=sorted(FIXTURES))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or FIXTURES:
        tensors, metadata = build_fixture(name)
        path = os.path.join(args.out, name + ".safetensors")
        mt.save_safetensors(path, tensors, metadata)
        print("%-48s %8d bytes  total %.6f" % (name, os.path.getsize(path),
                                                float(tensors["loss.total"][0])))


if __name__ == "__main__":
    main()
