"""Independent PyTorch reference port of MIRD (MODEL.md sections 1-5, 8, 9).

Written from the specification, not from the released code: it is the peer the C library's
reference test (tests/reference/fixtures) compares against tensor by tensor. Parameter names are
exactly those of MODEL.md section 9, so a libmird checkpoint loads with load_state_dict.

Also holds a minimal safetensors writer and reader (no safetensors package on Debian).
Run with Debian's /usr/bin/python3 (python3-torch 1.13, CPU).
"""
import dataclasses
import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_MODES = ("features", "tokens")
LANGUAGE_ENCODERS = ("transformer", "lstm")
CONSTRAINTS = ("mim", "oc", "none")
TOTALS = ("log", "weighted")
ESTIMATOR_INPUTS = ("recompute", "cached")

# The CLUB pairs of MODEL.md 2.6: name -> (x code, y code). "xa"/"xv" are the input terms.
CODE_PAIRS = (("l_a", "l", "a"), ("l_v", "l", "v"), ("a_v", "a", "v"),
              ("s_l", "s", "l"), ("s_a", "s", "a"), ("s_v", "s", "v"))
INPUT_PAIRS = (("s_xa", "s", "xa"), ("s_xv", "s", "xv"))


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class MirdConfig:
    # language input and encoders
    text_mode: str = "features"          # features | tokens
    language_encoder: str = "transformer"  # transformer | lstm
    T_l: int = 6                         # padded text length
    d_l: int = 16                        # text feature width (FEATURES)
    vocab: int = 40                      # vocabulary size (TOKENS)
    max_positions: int = 6               # rows of the position-embedding tables (>= T_l)
    type_vocab: int = 2                  # rows of token_type_embeddings (TOKENS; row 0 used)
    lstm_embedding_dim: int = 8          # e: width of language.embedding (TOKENS + lstm)
    H: int = 16                          # transformer width
    layers: int = 1
    heads: int = 2
    d_ff: int = 32
    # acoustic and visual inputs
    T_a: int = 8
    d_a: int = 4
    T_v: int = 10
    d_v: int = 6
    # codes, regressor, estimators
    z: int = 8
    r: int = 8
    club_hidden: int = 8                 # h of MODEL.md 2.6 (the layers are h/2 wide)
    # objective
    constraint: str = "mim"              # mim | oc | none
    oc_detach_norm: bool = False
    total: str = "log"                   # log | weighted
    w_l: float = 1.0
    w_a: float = 1.0
    w_v: float = 1.0
    lam: float = 1.0                     # lambda, the constraint's weight
    input_mi: bool = True                # the (z^S -> frame mean of X^A / X^V) terms
    mask_padding: bool = True
    club_sample: bool = False
    # regularisation and numerics
    p_h: float = 0.1
    p_wsa: float = 0.5
    p_proj: float = 0.5
    p_reg: float = 0.5
    beta_shift: float = 1.0
    bert_ln_eps: float = 1e-12
    wsa_ln_eps: float = 1e-5
    mag_eps: float = 1e-6
    oc_eps: float = 1e-6
    # training step
    estimator_inputs: str = "recompute"  # recompute | cached
    K: int = 5                           # estimator steps per mird_step
    lr: float = 1e-3                     # model AdamW learning rate (constant schedule here)
    estimator_lr: float = 1e-3           # estimator Adam learning rate
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    adamw_eps: float = 1e-6
    adam_eps: float = 1e-8
    max_grad_norm: float = 0.0           # 0: no clipping

    def validate(self):
        assert self.text_mode in TEXT_MODES, self.text_mode
        assert self.language_encoder in LANGUAGE_ENCODERS, self.language_encoder
        assert self.constraint in CONSTRAINTS, self.constraint
        assert self.total in TOTALS, self.total
        assert self.estimator_inputs in ESTIMATOR_INPUTS, self.estimator_inputs
        assert self.H % self.heads == 0, "H must be a multiple of heads"
        assert self.T_l <= self.max_positions, "T_l exceeds max_positions"
        assert self.club_hidden % 2 == 0 and self.club_hidden >= 2
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text):
        return MirdConfig(**json.loads(text)).validate()


PRESETS = {
    "tiny": dict(T_l=6, d_l=16, vocab=40, max_positions=6, H=16, layers=1, heads=2, d_ff=32,
                 T_a=8, d_a=4, T_v=10, d_v=6, z=8, r=8, club_hidden=8, lstm_embedding_dim=8),
    "mosi": dict(T_l=50, d_l=768, max_positions=50, H=128, layers=2, heads=4, d_ff=512,
                 T_a=375, d_a=5, T_v=500, d_v=20, z=64, r=64, club_hidden=32,
                 lstm_embedding_dim=128),
    "mosei": dict(T_l=50, d_l=768, max_positions=50, H=128, layers=2, heads=4, d_ff=512,
                  T_a=500, d_a=74, T_v=500, d_v=35, z=64, r=64, club_hidden=32,
                  lstm_embedding_dim=128),
    # the paper's setting; acoustic/visual sizes are per dataset (MOSI's here)
    "bert-base": dict(text_mode="tokens", T_l=50, vocab=30522, max_positions=512, H=768,
                      layers=12, heads=12, d_ff=3072, T_a=375, d_a=5, T_v=500, d_v=20,
                      z=64, r=64, club_hidden=32, lstm_embedding_dim=300, lr=1e-5),
}


def preset(name, **overrides):
    fields = dict(PRESETS[name])
    fields.update(overrides)
    return MirdConfig(**fields).validate()


# ---------------------------------------------------------------------------------------------
# Sparsemax over masked rows (Martins & Astudillo 2016)
# ---------------------------------------------------------------------------------------------
def sparsemax(scores, valid):
    """Sparsemax over the last axis of `scores`, entries where `valid` is False excluded.

    Excluded entries get probability exactly 0; a row with no valid entry is all zeros.
    The gradient is automatic differentiation of p = max(z - tau(z), 0), with tau from the
    sorted support: d tau / d z_j = 1/k on the support, which is sparsemax's exact Jacobian.
    """
    neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype)
    z = torch.where(valid, scores, neg_inf)
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    n = valid.sum(-1, keepdim=True)                         # valid entries per row
    ks = torch.arange(1, scores.shape[-1] + 1, dtype=scores.dtype)
    in_prefix = ks <= n                                     # sorted slots holding valid entries
    zero = torch.zeros((), dtype=scores.dtype)
    cums = torch.cumsum(torch.where(in_prefix, z_sorted, zero), dim=-1)
    support = in_prefix & (1 + ks * torch.where(in_prefix, z_sorted, zero) > cums)
    k = support.sum(-1, keepdim=True).clamp(min=1)
    tau = (torch.gather(cums, -1, k - 1) - 1) / k.to(scores.dtype)
    return torch.where(valid, torch.clamp(z - tau, min=0), zero)


# ---------------------------------------------------------------------------------------------
# BERT parts (Hugging Face BertModel naming)
# ---------------------------------------------------------------------------------------------
class TextEmbeddings(nn.Module):
    """TOKENS: word + position + token type 0; FEATURES: feature_proj + position. LN, dropout."""

    def __init__(self, cfg):
        super().__init__()
        self.tokens = cfg.text_mode == "tokens"
        if self.tokens:
            self.word_embeddings = nn.Embedding(cfg.vocab, cfg.H)
        else:
            self.feature_proj = nn.Linear(cfg.d_l, cfg.H)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.H)
        if self.tokens:
            self.token_type_embeddings = nn.Embedding(cfg.type_vocab, cfg.H)
        self.LayerNorm = nn.LayerNorm(cfg.H, eps=cfg.bert_ln_eps)
        self.dropout = nn.Dropout(cfg.p_h)

    def forward(self, text):
        steps = text.shape[1]
        if self.tokens:
            x = self.word_embeddings(text.long()) + self.token_type_embeddings.weight[0]
        else:
            x = self.feature_proj(text)
        x = x + self.position_embeddings.weight[:steps]
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.heads
        self.query = nn.Linear(cfg.H, cfg.H)
        self.key = nn.Linear(cfg.H, cfg.H)
        self.value = nn.Linear(cfg.H, cfg.H)
        self.dropout = nn.Dropout(cfg.p_h)

    def forward(self, x, key_valid):
        b, t, h = x.shape
        hd = h // self.heads

        def split(y):
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        # masked keys: -inf before the softmax, so their probability is exactly 0
        scores = scores.masked_fill(~key_valid[:, None, None, :], float("-inf"))
        probs = self.dropout(torch.softmax(scores, dim=-1))
        return (probs @ v).transpose(1, 2).reshape(b, t, h)


class ResidualOutput(nn.Module):
    """dense, dropout, LayerNorm(input + .); the attention.output and output modules of BERT."""

    def __init__(self, cfg, width_in):
        super().__init__()
        self.dense = nn.Linear(width_in, cfg.H)
        self.LayerNorm = nn.LayerNorm(cfg.H, eps=cfg.bert_ln_eps)
        self.dropout = nn.Dropout(cfg.p_h)

    def forward(self, branch, residual):
        return self.LayerNorm(residual + self.dropout(self.dense(branch)))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = SelfAttention(cfg)
        self.output = ResidualOutput(cfg, cfg.H)

    def forward(self, x, key_valid):
        return self.output(self.self(x, key_valid), x)


class Intermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.H, cfg.d_ff)

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact (erf) GELU


class BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Intermediate(cfg)
        self.output = ResidualOutput(cfg, cfg.d_ff)

    def forward(self, x, key_valid):
        h = self.attention(x, key_valid)
        return self.output(self.intermediate(h), h)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg.layers)])

    def forward(self, x, key_valid):
        for layer in self.layer:
            x = layer(x, key_valid)
        return x


class Pooler(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.H, cfg.H)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


# ---------------------------------------------------------------------------------------------
# WSA fusion (MODEL.md 2.1 step 2)
# ---------------------------------------------------------------------------------------------
class WSA(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg.H
        self.key_a = nn.Linear(cfg.d_a, h)
        self.key_v = nn.Linear(cfg.d_v, h)
        self.gate_a = nn.Linear(cfg.d_a + h, h)
        self.gate_v = nn.Linear(cfg.d_v + h, h)
        self.shift_a = nn.Linear(cfg.d_a, h)
        self.shift_v = nn.Linear(cfg.d_v, h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg.wsa_ln_eps)
        self.dropout = nn.Dropout(cfg.p_wsa)
        self.beta = cfg.beta_shift
        self.eps = cfg.mag_eps

    @staticmethod
    def _branch(key, gate, shift, emb, frames, lengths):
        steps = frames.shape[1]
        frame_valid = torch.arange(steps)[None, :] < lengths[:, None]      # [B, T_m]
        scores = emb @ key(frames).transpose(1, 2)                          # [B, T_l, T_m]
        row_valid = frame_valid[:, None, :].expand_as(scores)
        probs = sparsemax(scores, row_valid)
        attended = probs @ frames                                           # [B, T_l, d_m]
        g = F.relu(gate(torch.cat([attended, emb], dim=-1)))
        s = shift(attended)
        present = (lengths > 0).to(s.dtype)[:, None, None]                  # n_m = 0: s^m = 0
        return g * (s * present)

    def forward(self, emb, audio, audio_lengths, vision, vision_lengths):
        hs = (self._branch(self.key_a, self.gate_a, self.shift_a, emb, audio, audio_lengths)
              + self._branch(self.key_v, self.gate_v, self.shift_v, emb, vision, vision_lengths))
        e_norm = emb.norm(p=2, dim=-1)
        h_norm = hs.norm(p=2, dim=-1)
        h_norm = torch.where(h_norm == 0, torch.ones_like(h_norm), h_norm)
        ratio = self.beta * e_norm / (h_norm + self.eps)
        alpha = torch.min(ratio, torch.ones_like(ratio))
        return self.dropout(self.LayerNorm(alpha.unsqueeze(-1) * hs + emb))


# ---------------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------------
def text_for_encoder(text, lengths):
    """A text of length 0 runs as length 1 over a zero input (zero features / id 0)."""
    empty = lengths == 0
    if bool(empty.any()):
        text = torch.where(empty.view(-1, *([1] * (text.dim() - 1))), torch.zeros_like(text), text)
    return text, lengths.clamp(min=1)


class TextTransformer(nn.Module):
    """Embeddings (+ WSA for the agnostic encoder), BERT stack, pooler, projection to z."""

    def __init__(self, cfg, with_wsa):
        super().__init__()
        self.embeddings = TextEmbeddings(cfg)
        if with_wsa:
            self.wsa = WSA(cfg)
        self.encoder = Encoder(cfg)
        self.pooler = Pooler(cfg)
        self.proj = nn.Linear(cfg.H, cfg.z)
        self.dropout = nn.Dropout(cfg.p_proj)

    def forward(self, batch):
        text, lengths = text_for_encoder(batch["text"], batch["text_lengths"])
        x = self.embeddings(text)
        if hasattr(self, "wsa"):
            x = self.wsa(x, batch["audio"], batch["audio_lengths"],
                         batch["vision"], batch["vision_lengths"])
        key_valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        x = self.encoder(x, key_valid)
        return self.proj(self.dropout(self.pooler(x)))


def lstm_last_hidden(lstm, frames, lengths):
    """One-layer LSTM over the padded batch; h at step n-1, zero when n = 0."""
    out, _ = lstm(frames)
    index = (lengths.long() - 1).clamp(min=0)
    h = out[torch.arange(out.shape[0]), index]
    return h * (lengths > 0).to(h.dtype)[:, None]


class SequenceEncoder(nn.Module):
    """LSTM(d -> z), last valid hidden state, Linear(z -> z). Optional token embedding."""

    def __init__(self, d_in, z, vocab=None, embedding_dim=None):
        super().__init__()
        if vocab is not None:
            self.embedding = nn.Embedding(vocab, embedding_dim)
            d_in = embedding_dim
        self.lstm = nn.LSTM(d_in, z, batch_first=True)
        self.proj = nn.Linear(z, z)

    def forward(self, frames, lengths):
        if hasattr(self, "embedding"):
            frames = self.embedding(frames.long())
        return self.proj(lstm_last_hidden(self.lstm, frames, lengths))


# ---------------------------------------------------------------------------------------------
# Decoders, regressor
# ---------------------------------------------------------------------------------------------
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)            # PyTorch gate order
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


class Decoder(nn.Module):
    """LSTM(2z -> 2z) fed x_0 = u, x_t = h_{t-1}; Linear(2z -> d_out) at every step.

    Written as an explicit loop over the nn.LSTM's own weights (no W_ih + W_hh folding), so the
    C library's single-primitive formulation is checked independently.
    """

    def __init__(self, width, d_out):
        super().__init__()
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.out = nn.Linear(width, d_out)

    def hidden_states(self, u, steps):
        lstm = self.lstm
        h = torch.zeros_like(u)
        c = torch.zeros_like(u)
        x = u
        states = []
        for _ in range(steps):
            h, c = lstm_cell(x, h, c, lstm.weight_ih_l0, lstm.weight_hh_l0,
                             lstm.bias_ih_l0, lstm.bias_hh_l0)
            states.append(h)
            x = h
        return torch.stack(states, dim=1)

    def forward(self, u, steps):
        return self.out(self.hidden_states(u, steps))


class Decoders(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = 2 * cfg.z
        self.language = Decoder(w, cfg.vocab if cfg.text_mode == "tokens" else cfg.d_l)
        self.audio = Decoder(w, cfg.d_a)
        self.visual = Decoder(w, cfg.d_v)


class Regressor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(4 * cfg.z, cfg.r)
        self.fc2 = nn.Linear(cfg.r, 1)
        self.dropout = nn.Dropout(cfg.p_reg)

    def forward(self, codes):
        return self.fc2(self.dropout(F.relu(self.fc1(codes)))).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# CLUB estimators (vCLUB)
# ---------------------------------------------------------------------------------------------
class Club(nn.Module):
    def __init__(self, d_x, d_y, hidden):
        super().__init__()
        half = hidden // 2
        self.mu = nn.Sequential(nn.Linear(d_x, half), nn.ReLU(), nn.Linear(half, d_y))
        self.logvar = nn.Sequential(nn.Linear(d_x, half), nn.ReLU(), nn.Linear(half, d_y),
                                    nn.Tanh())

    def estimate(self, x, y, perm=None):
        """vCLUB upper bound; with `perm` the sampled variant (negatives y[perm])."""
        mu, logvar = self.mu(x), self.logvar(x)
        positive = -(mu - y) ** 2
        if perm is None:
            # all pairs explicitly (O(N^2 d)): the C side's closed form is checked against it
            negative = ((y[None, :, :] - mu[:, None, :]) ** 2).mean(dim=1)
        else:
            negative = (mu - y[perm]) ** 2
        return ((positive + negative) / (2 * torch.exp(logvar))).sum(-1).mean()

    def learning_loss(self, x, y):
        mu, logvar = self.mu(x), self.logvar(x)
        return -((-(mu - y) ** 2 / torch.exp(logvar) - logvar).sum(-1).mean())


class ClubSet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width = {"s": cfg.z, "l": cfg.z, "a": cfg.z, "v": cfg.z, "xa": cfg.d_a, "xv": cfg.d_v}
        for name, x, y in pairs_of(cfg):
            self.add_module(name, Club(width[x], width[y], cfg.club_hidden))


def pairs_of(cfg):
    return CODE_PAIRS + (INPUT_PAIRS if cfg.input_mi else ())


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
class MirdModel(nn.Module):
    """All of MIRD, estimators included (under `club`), named as MODEL.md section 9."""

    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.agnostic = TextTransformer(cfg, with_wsa=True)
        if cfg.language_encoder == "transformer":
            self.language = TextTransformer(cfg, with_wsa=False)
        elif cfg.text_mode == "tokens":
            self.language = SequenceEncoder(None, cfg.z, cfg.vocab, cfg.lstm_embedding_dim)
        else:
            self.language = SequenceEncoder(cfg.d_l, cfg.z)
        self.audio = SequenceEncoder(cfg.d_a, cfg.z)
        self.visual = SequenceEncoder(cfg.d_v, cfg.z)
        self.decoder = Decoders(cfg)
        self.regressor = Regressor(cfg)
        self.club = ClubSet(cfg)

    def encode(self, batch):
        """The four codes z^S, z^L, z^A, z^V."""
        if isinstance(self.language, TextTransformer):
            code_l = self.language(batch)
        else:
            code_l = self.language(batch["text"], batch["text_lengths"])
        return {"s": self.agnostic(batch),
                "l": code_l,
                "a": self.audio(batch["audio"], batch["audio_lengths"]),
                "v": self.visual(batch["vision"], batch["vision_lengths"])}

    def model_named_parameters(self):
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("club.")]

    def estimator_named_parameters(self):
        return [(n, p) for n, p in self.named_parameters() if n.startswith("club.")]


def bert_init_(module, std=0.02):
    """Hugging Face BertPreTrainedModel._init_weights: N(0, std) weights, zero biases, LN 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_model(cfg, seed):
    """MODEL.md section 5: PyTorch defaults, BERT parts (embeddings, encoder, pooler) N(0, 0.02)."""
    torch.manual_seed(seed)
    model = MirdModel(cfg)
    for stack in (model.agnostic, model.language):
        if isinstance(stack, TextTransformer):
            for part in (stack.embeddings, stack.encoder, stack.pooler):
                bert_init_(part)
    return model


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def step_mask(lengths, steps):
    return torch.arange(steps)[None, :] < lengths[:, None]


def frame_mean(frames, lengths):
    """Mean over valid frames; a zero vector when n = 0."""
    valid = step_mask(lengths, frames.shape[1]).to(frames.dtype)[:, :, None]
    total = (torch.where(valid > 0, frames, torch.zeros_like(frames))).sum(1)
    return total / lengths.clamp(min=1).to(frames.dtype)[:, None]


def reconstruction_loss(per_step, lengths, mask_padding):
    """per_step [B, T]: per-step loss already averaged over features.

    mask_padding: per sample the mean over valid steps, then the mean over samples with n > 0
    (None when no sample counts). Otherwise the mean over all steps of all samples.
    """
    if not mask_padding:
        return per_step.mean()
    valid = step_mask(lengths, per_step.shape[1])
    per_sample = torch.where(valid, per_step, torch.zeros_like(per_step)).sum(1)
    per_sample = per_sample / lengths.clamp(min=1).to(per_step.dtype)
    counts = lengths > 0
    if not bool(counts.any()):
        return None
    return per_sample[counts].mean()


def orthogonality(a, b, detach_norm, eps):
    """MISA's difference loss: centred, row-normalised codes, mean((A^T B)^2)."""
    def prepare(x):
        x = x - x.mean(dim=0, keepdim=True)
        norm = x.norm(p=2, dim=1, keepdim=True)
        if detach_norm:
            norm = norm.detach()
        return x / (norm + eps)
    return ((prepare(a).t() @ prepare(b)) ** 2).mean()


def mi_inputs(codes, batch):
    """The x/y tensors the CLUB pairs read: the four codes plus the frame means."""
    values = dict(codes)
    values["xa"] = frame_mean(batch["audio"], batch["audio_lengths"])
    values["xv"] = frame_mean(batch["vision"], batch["vision_lengths"])
    return values


def estimator_loss(model, codes, batch):
    """Sum of the CLUB learning losses on codes detached from the model."""
    values = mi_inputs({k: v.detach() for k, v in codes.items()}, batch)
    return sum(getattr(model.club, name).learning_loss(values[x], values[y])
               for name, x, y in pairs_of(model.cfg))


def forward_losses(model, batch, perms=None):
    """One forward: predictions, codes, reconstruction, every loss term and MI estimate.

    `perms` (club_sample only): dict pair name -> permutation of the batch rows.
    """
    cfg = model.cfg
    codes = model.encode(batch)
    pred = model.regressor(torch.cat([codes["s"], codes["l"], codes["a"], codes["v"]], dim=-1))
    out = {"pred": pred, "codes": codes}

    labeled = batch["labeled"] > 0
    out["task"] = ((pred[labeled] - batch["labels"][labeled]) ** 2).mean() \
        if bool(labeled.any()) else None

    def decode(name, code):
        u = torch.cat([codes["s"], code], dim=-1)
        target = batch[{"language": "text", "audio": "audio", "visual": "vision"}[name]]
        return getattr(model.decoder, name)(u, target.shape[1]), target

    rec_out, text = decode("language", codes["l"])
    if cfg.text_mode == "tokens":
        b, t, v = rec_out.shape
        per_step = F.cross_entropy(rec_out.reshape(b * t, v), text.reshape(-1).long(),
                                   reduction="none").view(b, t)
    else:
        per_step = ((rec_out - text) ** 2).mean(-1)
    out["rec_l"] = reconstruction_loss(per_step, batch["text_lengths"], cfg.mask_padding)
    for key, name, code, lengths in (("rec_a", "audio", "a", "audio_lengths"),
                                     ("rec_v", "visual", "v", "vision_lengths")):
        rec_out, target = decode(name, codes[code])
        out[key] = reconstruction_loss(((rec_out - target) ** 2).mean(-1), batch[lengths],
                                       cfg.mask_padding)

    values = mi_inputs(codes, batch)
    mi = {}
    for name, x, y in pairs_of(cfg):
        perm = perms[name] if cfg.club_sample else None
        mi[name] = getattr(model.club, name).estimate(values[x], values[y], perm)
    out["mi"] = mi

    if cfg.constraint == "mim":
        out["constraint"] = sum(mi.values())
    elif cfg.constraint == "oc":
        out["constraint"] = sum(orthogonality(codes[x], codes[y], cfg.oc_detach_norm, cfg.oc_eps)
                                for _, x, y in CODE_PAIRS)
    else:
        out["constraint"] = None

    terms = []
    weights = {"rec_l": cfg.w_l, "rec_a": cfg.w_a, "rec_v": cfg.w_v}
    for key in ("task", "rec_l", "rec_a", "rec_v"):
        if out[key] is None:
            continue
        if cfg.total == "log":
            terms.append(torch.log(out[key]))
        else:
            terms.append(out[key] if key == "task" else weights[key] * out[key])
    if out["constraint"] is not None:
        terms.append(cfg.lam * out["constraint"])
    out["total"] = sum(terms)
    return out


# ---------------------------------------------------------------------------------------------
# Optimisers and the training step
# ---------------------------------------------------------------------------------------------
class AdamW:
    """transformers 3.x AdamW: bias correction folded into the step size, eps outside the sqrt
    of v, decoupled decay p -= lr * wd * p after the update; none on biases and LayerNorms."""

    def __init__(self, named_params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        self.params = [p for _, p in named_params]
        self.decay = [not ("bias" in n or "LayerNorm" in n) for n, _ in named_params]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        for p, decay, m, v in zip(self.params, self.decay, self.m, self.v):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            m.mul_(b1).add_(g, alpha=1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            p.addcdiv_(m, v.sqrt().add_(self.eps), value=-step_size)
            if decay and self.weight_decay > 0:
                p.add_(p, alpha=-self.lr * self.weight_decay)


def make_optimizers(model):
    cfg = model.cfg
    opt = AdamW(model.model_named_parameters(), cfg.lr, (cfg.beta1, cfg.beta2), cfg.adamw_eps,
                cfg.weight_decay)
    est_opt = torch.optim.Adam([p for _, p in model.estimator_named_parameters()],
                               lr=cfg.estimator_lr, betas=(cfg.beta1, cfg.beta2),
                               eps=cfg.adam_eps, weight_decay=0.0, foreach=False)
    return opt, est_opt


def random_perms(cfg, batch_size, generator=None):
    return {name: torch.randperm(batch_size, generator=generator) for name, _, _ in pairs_of(cfg)}


def mird_step(model, estimators, opt, est_opt, batch, generator=None):
    """MODEL.md section 4. Returns every loss term and MI estimate of the model step (floats)
    and the K estimator learning losses (each computed before its Adam update)."""
    cfg = model.cfg
    b = batch["labels"].shape[0]
    model.train()
    estimators.requires_grad_(False)
    perms = random_perms(cfg, b, generator) if cfg.club_sample else None
    out = forward_losses(model, batch, perms)
    opt.zero_grad()
    out["total"].backward()
    if cfg.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(opt.params, cfg.max_grad_norm)
    opt.step()
    estimators.requires_grad_(True)

    cached = {k: v.detach() for k, v in out["codes"].items()}
    est_losses = []
    for _ in range(cfg.K):
        if cfg.estimator_inputs == "recompute":
            with torch.no_grad():
                codes = model.encode(batch)
        else:
            codes = cached
        loss = estimator_loss(model, codes, batch)
        est_opt.zero_grad()
        loss.backward()
        est_opt.step()
        est_losses.append(loss.item())

    report = {k: (None if out[k] is None else out[k].item())
              for k in ("task", "rec_l", "rec_a", "rec_v", "constraint", "total")}
    report.update({"mi." + k: v.item() for k, v in out["mi"].items()})
    report["estimator_losses"] = est_losses
    report["estimator"] = est_losses[-1] if est_losses else None
    return report


# ---------------------------------------------------------------------------------------------
# safetensors (written by hand: Debian has no safetensors package)
# ---------------------------------------------------------------------------------------------
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"),
           "U8": np.dtype("u1")}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}


def _as_array(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    dtype = value.dtype.newbyteorder("<") if value.dtype.itemsize > 1 else value.dtype
    if dtype not in _DTYPE_NAMES:
        raise TypeError("unsupported dtype %s" % value.dtype)
    return np.ascontiguousarray(value, dtype=dtype)


def save_safetensors(path, tensors, metadata=None):
    """tensors: ordered mapping name -> array/tensor; metadata: str -> str."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, value in tensors.items():
        array = _as_array(value)
        raw = array.tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    """Returns (dict name -> numpy array in file order, metadata dict). Checks every offset."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: shorter than the header length" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("%s: header length %d beyond the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors, expected = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dtype = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if begin != expected or end - begin != count * dtype.itemsize or end > len(body):
            raise ValueError("%s: bad offsets for %s" % (path, name))
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(info["shape"])
        expected = end
    if expected != len(body):
        raise ValueError("%s: %d trailing bytes" % (path, len(body) - expected))
    return tensors, metadata
