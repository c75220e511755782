#!/usr/bin/env python3
"""Peer benchmark (not part of CI): PyTorch + transformers decoding of the same model shape,
batch, prompt and new-token lengths as `ttc bench generate`, on this machine's CPU.

    pip install torch transformers
    python3 scripts/bench_torch_generate.py --size default --batch 1,64,256
    python3 scripts/bench_torch_generate.py --config smol135.json --dtype bf16 --batch 1,4,16

`--config` takes a HF config.json (e.g. a real model's shape, random weights); `--dtype bf16`
runs the model in bfloat16 as `torch_dtype=torch.bfloat16` loads it; `--temperature 0` decodes
greedily.

Prints one JSON line per (batch, method): `generate` is transformers' model.generate with
sampling; `loop` is a plain decode loop over the KV cache (no logits processors).
"""
import argparse, json, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SIZES = {  # hidden, intermediate, layers, heads, kv heads — as ttc's LlamaConfig presets
    "tiny": (64, 128, 2, 4, 2),
    "default": (192, 512, 4, 6, 2),
    "large": (512, 1408, 8, 8, 4),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="default", choices=SIZES)
    ap.add_argument("--vocab", type=int, default=320)
    ap.add_argument("--batch", default="1,64,256")
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", help="a HF config.json instead of --size")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.config:
        cfg = LlamaConfig.from_json_file(a.config)
        cfg.bos_token_id = cfg.eos_token_id = None
        cfg.pad_token_id = 0
    else:
        d, i, l, h, kv = SIZES[a.size]
        cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=d, intermediate_size=i,
                          num_hidden_layers=l, num_attention_heads=h, num_key_value_heads=kv,
                          max_position_embeddings=1024, rms_norm_eps=1e-5, bos_token_id=None,
                          eos_token_id=None, pad_token_id=0)
    vocab = cfg.vocab_size
    model = LlamaForCausalLM(cfg).eval()
    if a.dtype == "bf16":
        model = model.to(torch.bfloat16)
    greedy = a.temperature == 0
    params = sum(p.numel() for p in model.parameters())
    for b in [int(x) for x in a.batch.split(",")]:
        ids = torch.randint(1, vocab, (b, a.prompt_len))
        with torch.inference_mode():
            model.generate(ids[:1], max_new_tokens=4, do_sample=True)  # warm-up
            t = time.perf_counter()
            sampling = {} if greedy else dict(temperature=a.temperature, top_p=1.0, top_k=0)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=not greedy,
                                 max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
                                 **sampling)
            dt = time.perf_counter() - t
            n = (out.shape[1] - a.prompt_len) * b
            print(json.dumps({"bench": "torch-generate", "dtype": a.dtype, "params": params, "batch": b,
                              "threads": a.threads, "decode_tokens": n, "total_s": dt,
                              "tok_s": n / dt}), flush=True)
            # Plain loop: prefill once, then one token per step through the cache.
            t = time.perf_counter()
            o = model(input_ids=ids, use_cache=True)
            t_prefill = time.perf_counter() - t
            past, logits = o.past_key_values, o.logits[:, -1]
            t = time.perf_counter()
            for _ in range(a.new_tokens):
                if greedy:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(torch.softmax(logits.float() / a.temperature, -1), 1)
                o = model(input_ids=nxt, past_key_values=past, use_cache=True)
                past, logits = o.past_key_values, o.logits[:, -1]
            dt = time.perf_counter() - t
            print(json.dumps({"bench": "torch-loop", "dtype": a.dtype, "params": params, "batch": b,
                              "threads": a.threads, "prefill_tok_s": b * a.prompt_len / t_prefill,
                              "decode_tokens": b * a.new_tokens, "decode_s": dt,
                              "decode_tok_s": b * a.new_tokens / dt}), flush=True)


if __name__ == "__main__":
    main()
