#!/usr/bin/env python3
"""Writes the architecture fixtures of ArchitectureFixtureTests: two tiny random Hugging Face
folders (config.json + model.safetensors) and the logits of an independent float64 numpy forward
pass written from the Hugging Face model definitions (Qwen2Attention: q/k/v biases, no o bias;
LlamaAttention with attention_bias: q/k/v/o biases; head_dim from the config; RoPE with
rotate_half pairing and the llama3 frequency rule of modeling_rope_utils._compute_llama3_parameters;
causal softmax attention scaled by head_dim^-0.5 with grouped KV heads; RMSNorm; SwiGLU).

Run from this folder with numpy (any recent version): python3 make_arch_fixtures.py
Deterministic (numpy's PCG64 with fixed seeds); the outputs are committed.
"""
import json
import math
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def random_weights(cfg, qkv_bias, o_bias, seed):
    rng = np.random.default_rng(seed)
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    qd, kvd = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd

    def lin(n, k):
        return (rng.standard_normal((n, k)) / math.sqrt(k)).astype(np.float32)

    def norm(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def bias(n):
        return (0.5 * rng.standard_normal(n)).astype(np.float32)

    t = {"model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float32)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm(h)
        t[p + "self_attn.q_proj.weight"] = lin(qd, h)
        t[p + "self_attn.k_proj.weight"] = lin(kvd, h)
        t[p + "self_attn.v_proj.weight"] = lin(kvd, h)
        t[p + "self_attn.o_proj.weight"] = lin(h, qd)
        if qkv_bias:
            t[p + "self_attn.q_proj.bias"] = bias(qd)
            t[p + "self_attn.k_proj.bias"] = bias(kvd)
            t[p + "self_attn.v_proj.bias"] = bias(kvd)
        if o_bias:
            t[p + "self_attn.o_proj.bias"] = bias(h)
        t[p + "post_attention_layernorm.weight"] = norm(h)
        t[p + "mlp.gate_proj.weight"] = lin(f, h)
        t[p + "mlp.up_proj.weight"] = lin(f, h)
        t[p + "mlp.down_proj.weight"] = lin(h, f)
    t["model.norm.weight"] = norm(h)
    if not cfg.get("tie_word_embeddings", False):
        t["lm_head.weight"] = lin(v, h)
    return t


def inv_freq(cfg, hd):
    base = cfg.get("rope_theta", 10000.0)
    f = 1.0 / base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    rs = cfg.get("rope_scaling")
    if rs is None:
        return f
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return f / rs["factor"]
    assert kind == "llama3"
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / f
    out = np.where(wavelen > old / low, f / factor, f)
    smooth = (old / wavelen - low) / (high - low)
    mid = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(mid, (1 - smooth) * out / factor + smooth * out, out)


def forward(cfg, t, tokens):
    W = {k: v.astype(np.float64) for k, v in t.items()}
    h = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    eps = cfg["rms_norm_eps"]
    T = len(tokens)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def proj(name, x):
        y = x @ W[name + ".weight"].T
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq(cfg, hd))
    emb = np.concatenate([freqs, freqs], -1)
    cos, sin = np.cos(emb), np.sin(emb)

    def rot(x):  # x [heads, T, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + np.concatenate([-x2, x1], -1) * sin

    x = W["model.embed_tokens.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        xn = rms(x, W[p + "input_layernorm.weight"])
        q = rot(proj(p + "self_attn.q_proj", xn).reshape(T, nh, hd).transpose(1, 0, 2))
        k = rot(proj(p + "self_attn.k_proj", xn).reshape(T, nkv, hd).transpose(1, 0, 2))
        v = proj(p + "self_attn.v_proj", xn).reshape(T, nkv, hd).transpose(1, 0, 2)
        k = np.repeat(k, nh // nkv, axis=0)
        v = np.repeat(v, nh // nkv, axis=0)
        s = q @ k.transpose(0, 2, 1) * hd ** -0.5 + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v
        x = x + proj(p + "self_attn.o_proj", a.transpose(1, 0, 2).reshape(T, nh * hd))
        xn = rms(x, W[p + "post_attention_layernorm.weight"])
        g = proj(p + "mlp.gate_proj", xn)
        x = x + proj(p + "mlp.down_proj", g / (1 + np.exp(-g)) * proj(p + "mlp.up_proj", xn))
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return rms(x, W["model.norm.weight"]) @ head.T


FIXTURES = {
    # Qwen2.5-style: q/k/v biases, grouped-query, tied embeddings, no sliding window in effect.
    "qwen2-tiny": ({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
        "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 24, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "max_position_embeddings": 64, "tie_word_embeddings": True, "use_sliding_window": False,
        "sliding_window": 64, "max_window_layers": 1, "bos_token_id": 1, "rope_scaling": None,
        "torch_dtype": "float32"}, True, False, 11),
    # Llama with attention_bias (q/k/v/o), head_dim 16 != hidden/heads = 8, llama3 RoPE scaling
    # (original context 64: wavelength bands 16 / 64 cut through the 8 rotation pairs), untied.
    "llama-bias-headdim-llama3": ({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 24, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False,
        "attention_bias": True, "mlp_bias": False, "bos_token_id": 1,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "torch_dtype": "float32"}, True, True, 12),
}

TOKENS = [3, 17, 0, 9, 22, 5, 5, 14, 1, 20, 8, 11, 2]

if __name__ == "__main__":
    for name, (cfg, qkv_bias, o_bias, seed) in FIXTURES.items():
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        t = random_weights(cfg, qkv_bias, o_bias, seed)
        write_safetensors(os.path.join(d, "model.safetensors"), t)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        logits = forward(cfg, t, np.array(TOKENS))
        with open(os.path.join(HERE, name + ".logits.json"), "w") as f:
            json.dump({"tokens": TOKENS, "logits": [[float(x) for x in row] for row in logits]}, f)
        print(name, sum(a.size for a in t.values()), "weights, max |logit|", float(np.abs(logits).max()))
