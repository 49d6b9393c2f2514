"""A small pure-JAX transformer with named hook points, activation caching and interventions.

Built for the few-shot sequences of Chan et al. (2022) as used by Singh et al., *What needs to go
right for an induction head?* (ICML 2024): a sequence ``x_1 y_1 ... x_N y_N x_q`` of exemplar
feature vectors ``x`` (dimension ``d_input``) and label tokens ``y`` (``T = 2N + 1``). Exemplar
tokens are ``W_x x + b_x``, label tokens rows of a label embedding; positions are added (learned
or sinusoidal) or applied inside attention (RoPE, adjacent pairs ``(2i, 2i+1)`` rotated by
``pos * base^(-2i/d_head)``). Each block (pre-LN)::

    resid_mid  = resid_pre + Attn(LN1(resid_pre))
    resid_post = resid_mid + MLP(LN2(resid_mid))        (MLP omitted when d_mlp is None)
    Attn: scores = q k^T / sqrt(d_head), causal mask = -1e9 (finite), pattern = softmax(scores),
          z = pattern v, out = sum_h z_h W_O[h]

and ``logits = W_U LN_final(resid) + b_U`` at the query position (or at all positions).

**Hook points** (TransformerLens-style; shapes are per sequence, the cache adds a leading batch
axis): ``hook_embed`` [pos, d_model], ``hook_pos_embed`` [pos, d_model] (learned/sinusoidal),
``blocks.{l}.hook_resid_pre``, ``blocks.{l}.ln1.hook_normalized``,
``blocks.{l}.attn.hook_q|hook_k|hook_v`` [pos, head, d_head] (before rotation),
``blocks.{l}.attn.hook_rot_q|hook_rot_k`` (RoPE only), ``blocks.{l}.attn.hook_attn_scores``
[head, q_pos, k_pos] (scaled, masked, pre-softmax), ``blocks.{l}.attn.hook_pattern`` [head,
q_pos, k_pos], ``blocks.{l}.attn.hook_z`` [pos, head, d_head], ``blocks.{l}.attn.hook_result``
[pos, head, d_model] (per-head outputs; computed only when cached or intervened on),
``blocks.{l}.hook_attn_out``, ``blocks.{l}.hook_resid_mid``, ``blocks.{l}.ln2.hook_normalized``,
``blocks.{l}.mlp.hook_pre|hook_post`` [pos, d_mlp], ``blocks.{l}.hook_mlp_out`` (MLP only),
``blocks.{l}.hook_resid_post``, ``ln_final.hook_normalized``, ``hook_logits`` [out_pos, n_out]
(``out_pos`` = 1 when only the query is unembedded). :func:`hook_names` lists them in order.

**Interventions** (:mod:`learndyn.transformer.hooks`) are applied at their hook in the same pass;
``run_with_cache`` keeps a static selection of activations. Everything runs inside ``jit``,
``vmap``, ``grad`` and ``lax.scan`` (the training loop of :mod:`learndyn.core.engine`).

Init: LeCun normal for every dense weight, zero biases, label embedding and learned positions
truncated normal (std 0.02, cut at 2 std), LayerNorm gains 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp

from ..core.config import Config, ConfigError, param
from .hooks import Replace, TwoPass, apply_intervention, merge

__all__ = [
    "TransformerConfig",
    "forward",
    "hook_names",
    "init_params",
    "loss",
    "run_with_cache",
    "seq_len",
]

NEG = -1e9  # masked scores / excluded logits: finite, never inf arithmetic


@dataclass(frozen=True)
class TransformerConfig(Config):
    """Architecture of the few-shot transformer (hashable: usable as a static jit argument)."""

    d_input: int = param(512, "exemplar feature dimension D", gt=0)
    n_labels: int = param(5, "size of the label vocabulary (label embedding rows)", gt=1)
    n_out: int = param(0, "output classes; 0 = n_labels", ge=0)
    d_model: int = param(64, "residual stream width", gt=0)
    n_layers: int = param(2, "number of blocks", gt=0)
    n_heads: int = param(8, "attention heads per block (d_head = d_model / n_heads)", gt=0)
    d_mlp: int = param(0, "MLP hidden width; 0 = attention-only", ge=0)
    act: Literal["gelu", "relu"] = param("gelu", "MLP nonlinearity")
    positional: Literal["rope", "learned", "sinusoidal", "none"] = param(
        "rope", "positional scheme")
    rope_base: float = param(10000.0, "RoPE base", gt=1)
    sinusoid_timescale: float = param(10000.0, "sinusoidal embedding timescale", gt=1)
    max_len: int = param(32, "longest sequence (learned positions)", gt=0)
    causal: bool = param(True, "causal attention mask")
    norm: Literal["pre_ln", "none"] = param("pre_ln", "pre-LayerNorm + final LayerNorm, or none")
    qkv_bias: bool = param(False, "biases on queries, keys and values")
    out_bias: bool = param(False, "bias on the attention output")
    logits_at: Literal["query", "all"] = param("query", "unembed only the query, or every position")
    dtype: Literal["float32", "float64"] = param("float32", "parameter and activation dtype")

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"config field 'n_heads': must divide d_model = {self.d_model}, "
                              f"got {self.n_heads}")
        if self.positional == "rope" and self.d_head % 2:
            raise ConfigError(f"config field 'n_heads': RoPE needs an even d_head, got "
                              f"{self.d_head}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def outputs(self) -> int:
        return self.n_out or self.n_labels


def seq_len(n_pairs: int) -> int:
    """Sequence length T = 2N + 1 for N exemplar-label pairs and a query."""
    return 2 * n_pairs + 1


def hook_names(cfg: TransformerConfig) -> tuple[str, ...]:
    """Every hook point of a model with this config, in the order they are computed."""
    names = ["hook_embed"]
    if cfg.positional in ("learned", "sinusoidal"):
        names.append("hook_pos_embed")
    for l in range(cfg.n_layers):
        b = f"blocks.{l}"
        names += [f"{b}.hook_resid_pre", f"{b}.ln1.hook_normalized",
                  f"{b}.attn.hook_q", f"{b}.attn.hook_k", f"{b}.attn.hook_v"]
        if cfg.positional == "rope":
            names += [f"{b}.attn.hook_rot_q", f"{b}.attn.hook_rot_k"]
        names += [f"{b}.attn.hook_attn_scores", f"{b}.attn.hook_pattern", f"{b}.attn.hook_z",
                  f"{b}.attn.hook_result", f"{b}.hook_attn_out", f"{b}.hook_resid_mid"]
        if cfg.d_mlp:
            names += [f"{b}.ln2.hook_normalized", f"{b}.mlp.hook_pre", f"{b}.mlp.hook_post",
                      f"{b}.hook_mlp_out"]
        names.append(f"{b}.hook_resid_post")
    return tuple(names + ["ln_final.hook_normalized", "hook_logits"])


# ---- parameters ---------------------------------------------------------------------------
def _shapes(cfg: TransformerConfig) -> list[tuple[str, tuple[int, ...], str, float]]:
    """(path, shape, kind, scale) of every random parameter; kind 'lecun' or 'trunc'."""
    d, h, e = cfg.d_model, cfg.n_heads, cfg.d_head
    out = [("embed.W_x", (cfg.d_input, d), "lecun", cfg.d_input),
           ("embed.W_label", (cfg.n_labels, d), "trunc", 0.02),
           ("unembed.W_U", (d, cfg.outputs), "lecun", d)]
    if cfg.positional == "learned":
        out.append(("pos.W_pos", (cfg.max_len, d), "trunc", 0.02))
    for l in range(cfg.n_layers):
        out += [(f"blocks.{l}.attn.W_{n}", (h, d, e), "lecun", d) for n in "QKV"]
        out.append((f"blocks.{l}.attn.W_O", (h, e, d), "lecun", d))
        if cfg.d_mlp:
            out += [(f"blocks.{l}.mlp.W_in", (d, cfg.d_mlp), "lecun", d),
                    (f"blocks.{l}.mlp.W_out", (cfg.d_mlp, d), "lecun", cfg.d_mlp)]
    return out


def init_params(key: jax.Array, cfg: TransformerConfig) -> dict:
    """Parameters as a nested dict (see the module docstring for the initialisation).

    All random entries come from one uniform draw mapped through the normal quantile function
    (truncated normals: the quantiles between -2 and 2 std): one random-number kernel keeps the
    compiled program small.
    """
    dt = jnp.dtype(cfg.dtype)
    d = cfg.d_model
    shapes = _shapes(cfg)
    sizes = [math.prod(shape) for _, shape, _, _ in shapes]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float64 if dt == jnp.float64 else jnp.float32,
                           minval=1e-7, maxval=1.0 - 1e-7)
    lo = 0.5 * math.erfc(2.0 / math.sqrt(2.0))  # Phi(-2)
    random: dict[str, jax.Array] = {}
    start = 0
    for (path, shape, kind, scale), size in zip(shapes, sizes):
        piece = u[start:start + size]
        start += size
        if kind == "lecun":
            x = jax.scipy.special.ndtri(piece) / math.sqrt(scale)
        else:
            x = scale * jax.scipy.special.ndtri(lo + (1.0 - 2.0 * lo) * piece)
        random[path] = x.reshape(shape).astype(dt)

    def zeros(*shape):
        return jnp.zeros(shape, dt)

    p: dict[str, Any] = {
        "embed": {"W_x": random["embed.W_x"], "b_x": zeros(d),
                  "W_label": random["embed.W_label"]},
        "unembed": {"W_U": random["unembed.W_U"], "b_U": zeros(cfg.outputs)},
        "blocks": [],
    }
    if cfg.positional == "learned":
        p["pos"] = {"W_pos": random["pos.W_pos"]}
    if cfg.norm == "pre_ln":
        p["ln_final"] = {"w": jnp.ones((d,), dt), "b": zeros(d)}
    for l in range(cfg.n_layers):
        attn = {f"W_{n}": random[f"blocks.{l}.attn.W_{n}"] for n in "QKVO"}
        if cfg.qkv_bias:
            attn.update({f"b_{n}": zeros(cfg.n_heads, cfg.d_head) for n in "QKV"})
        if cfg.out_bias:
            attn["b_O"] = zeros(d)
        block: dict[str, Any] = {"attn": attn}
        if cfg.norm == "pre_ln":
            block["ln1"] = {"w": jnp.ones((d,), dt), "b": zeros(d)}
        if cfg.d_mlp:
            block["mlp"] = {"W_in": random[f"blocks.{l}.mlp.W_in"], "b_in": zeros(cfg.d_mlp),
                            "W_out": random[f"blocks.{l}.mlp.W_out"], "b_out": zeros(d)}
            if cfg.norm == "pre_ln":
                block["ln2"] = {"w": jnp.ones((d,), dt), "b": zeros(d)}
        p["blocks"].append(block)
    return p


# ---- one pass over one sequence -----------------------------------------------------------
class _Pass:
    """Applies interventions at hook points and records every activation of one pass."""

    def __init__(self, interventions: Mapping[str, Any], context: Mapping[str, jax.Array],
                 wanted: frozenset[str]):
        self.interventions = interventions
        self.context = context
        self.wanted = wanted
        self.cache: dict[str, jax.Array] = {}

    def __call__(self, name: str, x: jax.Array) -> jax.Array:
        if name in self.interventions:
            x = apply_intervention(self.interventions[name], x, self.cache, self.context)
        self.cache[name] = x
        return x

    def needs(self, name: str) -> bool:
        return name in self.interventions or name in self.wanted


def _layer_norm(x, ln):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * ln["w"][None] + ln["b"][None]


def _rope(x, base):
    """Rotate adjacent pairs (2i, 2i+1) of x [pos, head, d_head] by pos * base^(-2i/d_head)."""
    t, _, e = x.shape
    freqs = base ** (-jnp.arange(0, e, 2, dtype=x.dtype) / e)  # [e/2]
    angle = jnp.arange(t, dtype=x.dtype)[:, None, None] * freqs[None, None, :]  # [t, 1, e/2]
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return jnp.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).reshape(x.shape)


def _sinusoid(t, d, timescale, dtype):
    pos = jnp.arange(t, dtype=dtype)[:, None]
    inv = timescale ** (-jnp.arange(0, d, 2, dtype=dtype) / d)[None, :]
    return jnp.stack([jnp.sin(pos * inv), jnp.cos(pos * inv)], axis=-1).reshape(t, d)


def _embed(params, seq, cfg):
    ex = seq["exemplars"].astype(cfg.dtype)  # [N+1, D]
    x_tok = ex @ params["embed"]["W_x"] + params["embed"]["b_x"][None]
    y_tok = params["embed"]["W_label"][seq["labels"]]  # [N, d]
    n = y_tok.shape[0]
    pairs = jnp.stack([x_tok[:n], y_tok], axis=1).reshape(2 * n, cfg.d_model)
    return jnp.concatenate([pairs, x_tok[n:]], axis=0)


def _attention(p, x, cfg, hp, b):
    t = x.shape[0]
    q = jnp.einsum("td,hde->the", x, p["W_Q"])
    k = jnp.einsum("td,hde->the", x, p["W_K"])
    v = jnp.einsum("td,hde->the", x, p["W_V"])
    if cfg.qkv_bias:
        q, k, v = q + p["b_Q"][None], k + p["b_K"][None], v + p["b_V"][None]
    q, k, v = hp(f"{b}.hook_q", q), hp(f"{b}.hook_k", k), hp(f"{b}.hook_v", v)
    if cfg.positional == "rope":
        q = hp(f"{b}.hook_rot_q", _rope(q, cfg.rope_base))
        k = hp(f"{b}.hook_rot_k", _rope(k, cfg.rope_base))
    scores = jnp.einsum("qhe,khe->hqk", q, k) / jnp.sqrt(jnp.asarray(cfg.d_head, q.dtype))
    if cfg.causal:
        allowed = jnp.tril(jnp.ones((t, t), dtype=bool))[None]
        scores = jnp.where(allowed, scores, jnp.asarray(NEG, scores.dtype))
    scores = hp(f"{b}.hook_attn_scores", scores)
    pattern = hp(f"{b}.hook_pattern", jax.nn.softmax(scores, axis=-1))
    z = hp(f"{b}.hook_z", jnp.einsum("hqk,khe->qhe", pattern, v))
    if hp.needs(f"{b}.hook_result"):
        result = hp(f"{b}.hook_result", jnp.einsum("qhe,hed->qhd", z, p["W_O"]))
        out = result.sum(axis=1)
    else:
        out = jnp.einsum("qhe,hed->qd", z, p["W_O"])
    return out + p["b_O"][None] if cfg.out_bias else out


def _one_pass(params, seq, cfg, interventions, wanted):
    hp = _Pass(interventions, seq, wanted)
    norm = (lambda x, ln: _layer_norm(x, ln)) if cfg.norm == "pre_ln" else (lambda x, ln: x)
    resid = hp("hook_embed", _embed(params, seq, cfg))
    t = resid.shape[0]
    if cfg.positional == "learned":
        resid = resid + hp("hook_pos_embed", params["pos"]["W_pos"][:t])
    elif cfg.positional == "sinusoidal":
        pos = _sinusoid(t, cfg.d_model, cfg.sinusoid_timescale, resid.dtype)
        resid = resid + hp("hook_pos_embed", pos)
    for l, block in enumerate(params["blocks"]):
        b = f"blocks.{l}"
        resid = hp(f"{b}.hook_resid_pre", resid)
        x = hp(f"{b}.ln1.hook_normalized", norm(resid, block.get("ln1")))
        attn_out = hp(f"{b}.hook_attn_out", _attention(block["attn"], x, cfg, hp, f"{b}.attn"))
        resid = hp(f"{b}.hook_resid_mid", resid + attn_out)
        if cfg.d_mlp:
            mlp = block["mlp"]
            x = hp(f"{b}.ln2.hook_normalized", norm(resid, block.get("ln2")))
            pre = hp(f"{b}.mlp.hook_pre", x @ mlp["W_in"] + mlp["b_in"][None])
            act = jax.nn.gelu if cfg.act == "gelu" else jax.nn.relu
            post = hp(f"{b}.mlp.hook_post", act(pre))
            resid = resid + hp(f"{b}.hook_mlp_out", post @ mlp["W_out"] + mlp["b_out"][None])
        resid = hp(f"{b}.hook_resid_post", resid)
    x = hp("ln_final.hook_normalized", norm(resid, params.get("ln_final")))
    if cfg.logits_at == "query":
        x = x[-1:]
    logits = hp("hook_logits", x @ params["unembed"]["W_U"] + params["unembed"]["b_U"][None])
    return logits, hp.cache


def _context(seq: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """The per-sequence context Apply functions see: the batch entry plus token types."""
    n = seq["labels"].shape[0]
    t = seq_len(n)
    kind = jnp.where(jnp.arange(t) % 2 == 1, 1, 0).at[t - 1].set(2)
    label_ids = jnp.full((t,), -1, jnp.int32).at[1::2].set(seq["labels"].astype(jnp.int32))
    return {**seq, "token_type": kind, "label_at": label_ids}


def _single(params, seq, cfg, interventions, names):
    """Logits and the selected cache of one sequence, handling :class:`TwoPass`."""
    seq = _context(seq)
    wanted = frozenset(hook_names(cfg) if names is None else names)
    if isinstance(interventions, TwoPass):
        first_names = frozenset(interventions.names)
        _, cache1 = _one_pass(params, seq, cfg, interventions.first or {}, first_names)
        cache1 = {n: cache1[n] for n in interventions.names}
        if interventions.stop_gradient:
            cache1 = jax.lax.stop_gradient(cache1)
        built = interventions.build(cache1, seq)
        second = merge(built, interventions.second)
        _check_names(cfg, second)
        logits, cache = _one_pass(params, seq, cfg, second, wanted)
    else:
        logits, cache = _one_pass(params, seq, cfg, interventions or {}, wanted)
    return logits, {n: cache[n] for n in wanted if n in cache}


def _check_names(cfg, interventions) -> None:
    valid = set(hook_names(cfg))
    names = interventions.names if isinstance(interventions, TwoPass) else ()
    mappings = ([interventions.first, interventions.second]
                if isinstance(interventions, TwoPass) else [interventions])
    for name in [*names, *(k for m in mappings for k in (m or {}))]:
        if name not in valid:
            raise ConfigError(f"unknown hook point '{name}' for this model (see hook_names)")


def _in_axes(interventions):
    """vmap axes: batched Replace values/masks along axis 0, everything else broadcast."""
    def axes(item):
        if isinstance(item, Replace):
            ax = 0 if item.batched else None
            return Replace(ax, None if item.mask is None else ax, item.batched)
        return item

    return jax.tree.map(axes, interventions, is_leaf=lambda x: isinstance(x, Replace))


def run_with_cache(params: dict, batch: Mapping[str, jax.Array], cfg: TransformerConfig, *,
                   names: Sequence[str] | None = None,
                   interventions: Mapping[str, Any] | TwoPass | None = None):
    """Logits ``[batch, out_pos, n_out]`` and ``{name: activation [batch, ...]}``.

    Args:
        params: from :func:`init_params`.
        batch: ``exemplars`` [B, N+1, D], ``labels`` [B, N] (ints), ``target`` [B] (ints).
        cfg: the architecture (static).
        names: hook names to keep (a static selection); ``None`` keeps every one (including
            the per-head ``hook_result``).
        interventions: ``{hook name: Replace | Apply | tuple of them}`` or a :class:`TwoPass`.
    """
    interventions = interventions or {}
    _check_names(cfg, interventions)
    if names is not None:
        names = tuple(names)
        _check_names(cfg, {n: None for n in names})
    seqs = {k: batch[k] for k in ("exemplars", "labels", "target")}

    def one(seq, iv):
        return _single(params, seq, cfg, iv, names)

    return jax.vmap(one, in_axes=(0, _in_axes(interventions)))(seqs, interventions)


def forward(params: dict, batch: Mapping[str, jax.Array], cfg: TransformerConfig, *,
            interventions: Mapping[str, Any] | TwoPass | None = None) -> jax.Array:
    """Logits ``[batch, out_pos, n_out]`` (``out_pos`` = 1 for ``logits_at="query"``)."""
    return run_with_cache(params, batch, cfg, names=(), interventions=interventions)[0]


def loss(params: dict, batch: Mapping[str, jax.Array], cfg: TransformerConfig, *,
         interventions: Mapping[str, Any] | TwoPass | None = None) -> jax.Array:
    """Mean cross-entropy of the query prediction (interim predictions carry no weight)."""
    logits = forward(params, batch, cfg, interventions=interventions)[:, -1]
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, batch["target"][:, None], axis=-1))
