#!/usr/bin/env python3
"""Peer benchmark (not part of CI): PyTorch training throughput (forward + backward + AdamW)
for the same model shapes and batch as `ttc bench train`, on this machine's CPU.

    python3 scripts/bench_torch_train.py --size default --batch 32 --seq-len 128
"""
import argparse, json, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

# (hidden, intermediate, layers, heads, kv heads): ttc_model::LlamaConfig::{tiny, policy_default, policy_large}
SIZES = {"tiny": (64, 128, 2, 4, 2), "default": (192, 512, 4, 6, 2), "large": (512, 1408, 8, 8, 4)}

ap = argparse.ArgumentParser()
ap.add_argument("--size", default="default", choices=SIZES)
ap.add_argument("--vocab", type=int, default=320)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq-len", type=int, default=128)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
d, i, l, h, kv = SIZES[a.size]
model = LlamaForCausalLM(LlamaConfig(vocab_size=a.vocab, hidden_size=d, intermediate_size=i,
                                     num_hidden_layers=l, num_attention_heads=h,
                                     num_key_value_heads=kv, max_position_embeddings=1024))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
ids = torch.randint(0, a.vocab, (a.batch, a.seq_len + 1))


def step():
    out = model(input_ids=ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(out.reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()
t = time.perf_counter()
for _ in range(a.steps):
    step()
dt = time.perf_counter() - t
n = a.batch * a.seq_len * a.steps
print(json.dumps({"bench": "torch-train", "params": sum(p.numel() for p in model.parameters()),
                  "batch": a.batch, "seq_len": a.seq_len, "steps": a.steps, "tokens": n,
                  "seconds": dt, "tok_s": n / dt}))
