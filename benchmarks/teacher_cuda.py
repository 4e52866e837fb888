"""The in-process transformers teacher on CUDA against the same engine on the CPU, real SmolLM2 weights.

Both devices run the engine as the study does (float32 weights, prefix KV cache reused, texts in
batches) on the same texts and prompt (BBC News, zero-shot, the registry's task and verbalizers). The
check: the largest difference of a label probability between the two devices, how often the argmax
label differs, and each device's texts/s (after a warm-up batch, from one timed pass).

    python benchmarks/teacher_cuda.py [--texts 256] [--teacher offline:smollm2-135m | FILE.gguf]
                                      [--texts-file texts.json] [--batch-size 8] [--readme papers/scale.md]

``--texts-file`` (a JSON list of strings) stands in for the offline dataset on a machine without it.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from llkd_nb.core.assets import OFFLINE_TEACHER
from llkd_nb.core.data import get_spec
from llkd_nb.teacher.prompts import build_prompt
from llkd_nb.teacher.transformers_engine import TransformersTeacher
from readme_block import readme_argument, report


def bbc_texts(count: int) -> list[str]:
    from llkd_nb.core.data import DataConfig, load_splits

    return load_splits(DataConfig(pool_size=count)).pool["text"].tolist()


def score(device: str, teacher_name: str, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    """Label probabilities ``[N, K]`` on ``device`` and the texts/s of one timed pass."""
    teacher = TransformersTeacher.load(teacher_name, device=device)
    spec = get_spec("bbc_news")
    prompt = build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, max_words=120)
    scorer = teacher.batch_scorer(prompt, tuple(spec.verbalizers))
    scorer(texts[:batch_size])  # warm-up: kernels, allocator
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronise()
    started = time.perf_counter()
    logprobs = np.concatenate([scorer(texts[i: i + batch_size]) for i in range(0, len(texts), batch_size)])
    synchronise()
    seconds = time.perf_counter() - started
    probabilities = np.exp(logprobs - logprobs.max(axis=1, keepdims=True))
    return probabilities / probabilities.sum(axis=1, keepdims=True), len(texts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--teacher", default=OFFLINE_TEACHER)
    parser.add_argument("--texts-file", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    readme_argument(parser)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this check needs a CUDA GPU")
    texts = json.loads(open(args.texts_file).read())[: args.texts] if args.texts_file else bbc_texts(args.texts)
    cpu, cpu_rate = score("cpu", args.teacher, texts, args.batch_size)
    cuda, cuda_rate = score("cuda", args.teacher, texts, args.batch_size)
    delta = np.abs(cuda - cpu)
    differing = int((cuda.argmax(1) != cpu.argmax(1)).sum())
    source = f"texts of {args.texts_file} (BBC News's task)" if args.texts_file else "BBC News texts"
    report([f"The same engine on CUDA against the CPU on the real weights ({torch.cuda.get_device_name()}, torch "
            f"{torch.__version__}, teacher {args.teacher}, float32 on both, {len(texts)} {source}, zero-shot, "
            f"batch {args.batch_size}): max \\|p_cuda − p_cpu\\| {delta.max():.1e} over {delta.size:,} label "
            f"probabilities (mean {delta.mean():.1e}); the argmax label differs on {differing} of {len(texts)} texts; "
            f"{cuda_rate:.1f} texts/s on CUDA against {cpu_rate:.1f} on the CPU's {torch.get_num_threads()} threads "
            f"({cuda_rate / cpu_rate:.1f}x)."], "bench_teacher_cuda", args.readme)


if __name__ == "__main__":
    main()
