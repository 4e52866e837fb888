"""The in-process transformers teacher on a GPU with a teacher of the paper's size, naive vs. ours.

The model has Llama-3-8B's shape (32 layers, hidden 4096, grouped-query attention, vocabulary 128,256)
with random bfloat16 weights: no weights can be downloaded here, and throughput depends on the shape,
not on the values. The token ids are random too, with this study's lengths: a shared prompt prefix,
a text, and five labels of 1-3 tokens. Labels from random weights mean nothing; what is measured is
texts/s of the naive way (one full forward pass per text and label) and of ours (prefix KV cache
reused, texts batched, the K label continuations together), and how far apart their probabilities are.

    python benchmarks/teacher_gpu.py [--texts 64] [--batch-size 16] [--layers 32] [--readme papers/scale.md]
"""

from __future__ import annotations

import argparse
import time

import torch

from llkd_nb.teacher.scoring import PrefixScorer, naive_label_logprobs
from readme_block import readme_argument, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--prefix-tokens", type=int, default=80)
    parser.add_argument("--text-tokens", type=int, default=220, help="mean tokens per text (uniform +-50%%)")
    readme_argument(parser)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128_256, hidden_size=4096, intermediate_size=14_336, num_hidden_layers=args.layers,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rope_theta=500_000.0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).eval()
    torch.set_default_dtype(torch.float32)
    vocab = config.vocab_size
    prefix = torch.randint(0, vocab, (args.prefix_tokens,)).tolist()
    labels = [torch.randint(0, vocab, (n,)).tolist() for n in (1, 3, 2, 2, 1)]
    lengths = torch.randint(args.text_tokens // 2, args.text_tokens * 3 // 2, (args.texts,)).tolist()
    middles = sorted((torch.randint(0, vocab, (n,)).tolist() for n in lengths), key=len)

    def run_naive() -> torch.Tensor:
        return torch.stack([naive_label_logprobs(model, prefix, middle, labels) for middle in middles])

    def run_ours() -> torch.Tensor:
        scorer = PrefixScorer(model, prefix, labels)
        return torch.cat([scorer(middles[i: i + args.batch_size]) for i in range(0, len(middles), args.batch_size)])

    rows = {}
    for name, run in (("naive", run_naive), ("ours", run_ours)):
        run()  # warm-up: CUDA kernels, allocator
        torch.cuda.synchronize()
        started = time.perf_counter()
        scores = run()
        torch.cuda.synchronize()
        rows[name] = (scores, time.perf_counter() - started)

    naive_rate = args.texts / rows["naive"][1]
    delta = (torch.softmax(rows["ours"][0].float(), -1) - torch.softmax(rows["naive"][0].float(), -1)).abs().max()
    lines = [f"{torch.cuda.get_device_name()}, torch {torch.__version__}; Llama-3-8B shape, {args.layers} layers, "
             f"{sum(p.numel() for p in model.parameters()) / 1e9:.1f} B parameters, bfloat16, random weights; "
             f"{args.texts} texts of {min(lengths)}-{max(lengths)} tokens after a {args.prefix_tokens}-token prefix, "
             f"5 labels of 1-3 tokens, batch {args.batch_size}; one timed pass after a warm-up:", "",
             "| engine | texts/s | vs naive |", "|---|---|---|"]
    lines += [f"| {name} | {args.texts / seconds:.1f} | {args.texts / seconds / naive_rate:.1f}x |"
              for name, (_, seconds) in rows.items()]
    lines += ["", f"max \\|p_ours − p_naive\\| {delta:.1e} (bfloat16: padded batches against single sequences); "
                  f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB."]
    report(lines, "bench_teacher_gpu", args.readme)


if __name__ == "__main__":
    main()
