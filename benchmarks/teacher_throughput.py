"""Teacher labeling throughput of every engine against the naive way, on the same texts, in the same run.

naive        transformers, one full forward pass per text per label (prompt + text + label), no batching.
transformers ours: the shared prompt prefix computed once (KV cache reused), texts batched by length,
             the K label continuations scored together.
llama-cpp    the native GGUF engine: the prefix reused, each text and all its label continuations in one
             decode; its 4-bit weights as they are, and de-quantised to bf16 at load.
server       the server teacher over HTTP against llama-cpp-python's OpenAI-compatible server on this
             machine (echo + logprobs, one request per text and label), on fewer texts: that server
             formats echoed log-probabilities in Python, slowly.

No disk cache anywhere: every text is really scored. max |delta p| compares each engine's label
probabilities with the naive reference on the texts it scored. The texts are sorted by length (the batches
the transformers engine would form on all of them) and cut into chunks of one batch; the engines take
turns chunk by chunk, so that a drift in the machine's speed (large on shared virtual machines) reaches
every engine alike. That is one repeat; the table shows the median and the range over ``--repeats``.

    python benchmarks/teacher_throughput.py [--texts 64] [--server-texts 8] [--batch-size 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from llkd_nb.core.assets import smollm2_gguf
from llkd_nb.core.data import get_spec, load_dataset_frame, split_dataset
from llkd_nb.core.runinfo import cpu_description
from llkd_nb.teacher.calibration import softmax
from llkd_nb.teacher.gguf_engine import LlamaCppTeacher, usable_cores
from llkd_nb.teacher.local_server import llama_cpp_server
from llkd_nb.teacher.prompts import build_prompt
from llkd_nb.teacher.scoring import naive_label_logprobs
from llkd_nb.teacher.server_engine import ServerTeacher
from llkd_nb.teacher.transformers_engine import TransformersTeacher
from readme_block import readme_argument, report


ENGINES = {  # the table's names
    "naive": "naive: `transformers`, a full pass per text per label",
    "transformers (ours)": "`transformers`, ours: prefix KV cache, batches, labels together",
    "llama-cpp (native GGUF)": "native GGUF (llama.cpp, 4-bit weights as they are, prefix reused, a text and its labels in one decode)",
    "llama-cpp (GGUF as bf16)": "native GGUF, de-quantised to bf16 at load (`teacher_gguf_weights: bf16`)",
    "server (llama-cpp-python)": "server teacher → llama-cpp-python's server on this machine",
}


def timed(score, texts: list[str]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    logprobs = score(texts)
    return logprobs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--server-texts", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-words", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    readme_argument(parser)
    args = parser.parse_args()

    spec = get_spec("bbc_news")
    texts = split_dataset(load_dataset_frame(spec), seed=0).pool["text"].head(args.texts).tolist()
    teacher = TransformersTeacher.load()
    prompt = build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, args.max_words)
    texts.sort(key=lambda text: len(teacher.encode(prompt.middle(text))))
    prefix, labels = teacher.encode(prompt.prefix), [teacher.encode(v) for v in spec.verbalizers]

    naive_seconds: dict[str, float] = {}  # per text, for the server's ratio on its own texts

    def naive(batch: list[str]) -> np.ndarray:
        rows = []
        for text in batch:
            started = time.perf_counter()
            rows.append(naive_label_logprobs(teacher.model, prefix, teacher.encode(prompt.middle(text)), labels).numpy())
            naive_seconds[text] = time.perf_counter() - started
        return np.stack(rows)

    def labelling(engine) -> Callable[[list[str]], np.ndarray]:  # its prompt prefix evaluated once, kept across chunks
        scorer = engine.scorer(prompt, spec.verbalizers)
        return lambda batch: scorer.logprobs(batch, batch_size=args.batch_size, progress=False)

    engines = {
        "naive": (naive, texts),
        "transformers (ours)": (labelling(teacher), texts),
        "llama-cpp (native GGUF)": (labelling(LlamaCppTeacher.load()), texts),
        "llama-cpp (GGUF as bf16)": (labelling(LlamaCppTeacher.load(weights="bf16")), texts),
    }
    server_texts = texts[: args.server_texts]
    rates: dict[str, list[float]] = {name: [] for name in [*engines, "server (llama-cpp-python)"]}
    naive_on_server_texts: list[float] = []
    scores: dict[str, np.ndarray] = {}
    with llama_cpp_server(smollm2_gguf(), "smollm2", threads=usable_cores(), context=4096) as url:
        served = ServerTeacher.connect(url, "smollm2", tokenizer=teacher.tokenizer, timeout=600.0)  # queued echo requests are slow
        engines["server (llama-cpp-python)"] = (labelling(served), server_texts)
        for _ in range(args.repeats):
            seconds, parts = dict.fromkeys(engines, 0.0), {name: [] for name in engines}
            for start in range(0, len(texts), args.batch_size):
                for name, (score, batch) in engines.items():
                    if chunk := batch[start: start + args.batch_size]:
                        logprobs, took = timed(score, chunk)
                        parts[name].append(logprobs)
                        seconds[name] += took
            for name, (_, batch) in engines.items():
                scores[name] = np.concatenate(parts[name])
                rates[name].append(len(batch) / seconds[name])
            naive_on_server_texts.append(len(server_texts) / sum(naive_seconds[text] for text in server_texts))

    naive_probs = softmax(scores["naive"])
    served = softmax(scores["server (llama-cpp-python)"])
    served_vs_native = np.abs(served - softmax(scores["llama-cpp (native GGUF)"])[: len(served)]).max()
    as_is_ratio, bf16_ratio = (np.array(rates[name]) / np.array(rates["transformers (ours)"])  # paired within a repeat
                               for name in ("llama-cpp (native GGUF)", "llama-cpp (GGUF as bf16)"))
    lines = [f"{cpu_description()}, {usable_cores()} cores, {torch.get_num_threads()} torch threads; SmolLM2-135M-Instruct "
             f"(the GGUF rows: its Q4_1 file); BBC News, {len(spec.labels)} labels (label tokens "
             f"{[len(ids) for ids in labels]}), first {args.max_words} words, {len(texts)} texts (the server: the "
             f"{args.server_texts} shortest), transformers batch {args.batch_size}; the engines taking turns batch by "
             f"batch; median over {args.repeats} repeats (range):", "",
             "| engine | texts/s | vs naive | max \\|Δp\\| vs naive |", "|---|---|---|---|"]
    for name, rate in rates.items():  # paired within each repeat, on the same texts
        naive_rate = naive_on_server_texts if name == "server (llama-cpp-python)" else rates["naive"]
        ratio = np.array(rate) / np.array(naive_rate)
        delta = np.abs(softmax(scores[name]) - naive_probs[: len(scores[name])]).max()
        lines.append(f"| {ENGINES[name]} | {np.median(rate):.2f} ({min(rate):.2f}-{max(rate):.2f}) | "
                     f"{np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f}) | {delta:.1e} |")
    lines += ["", f"The native GGUF engine labels at **{np.median(as_is_ratio):.2f}x** the speed of the `transformers` "
                  f"engine with its 4-bit weights as they are ({as_is_ratio.min():.2f}-{as_is_ratio.max():.2f}) and at "
                  f"**{np.median(bf16_ratio):.2f}x** de-quantised to bf16 ({bf16_ratio.min():.2f}-{bf16_ratio.max():.2f}); "
                  "each ratio within one repeat, the range over the repeats.", "",
              f"The server and the native engine, on the same Q4_1 file and the server's texts, differ by max |Δp| "
              f"{served_vs_native:.1e} (the tests hold them to 1e-2)."]
    report(lines, "bench_teacher_throughput", args.readme)


if __name__ == "__main__":
    main()
