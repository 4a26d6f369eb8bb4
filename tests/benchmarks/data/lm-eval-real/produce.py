"""Produces the real lm-eval outputs in this folder: a tiny model evaluated by lm-eval itself.

Not run by the test suite, and not importable from it: it needs torch, transformers and
lm-eval, which are no dependencies of this project. Run it in a separate virtual environment
(the README in this folder gives the exact versions and commands):

    python produce.py WORKDIR

In WORKDIR it writes, all offline (nothing is downloaded):

1. `data/<task>.jsonl`: four small multiple-choice datasets (40 items each), drawn with a
   fixed seed: `tiny_add` (a+b, one-digit sums), `tiny_add_carry` (a+b with a carry),
   `tiny_cmp` (the larger of two numbers) and `tiny_next` (the letter after a letter);
2. `tasks/`: lm-eval task YAMLs reading them (`dataset_path: json`), grouped as
   `tiny_suite` = [`tiny_arith` = [tiny_add, tiny_add_carry], tiny_cmp, tiny_next];
3. `models/baseline`: a character-level tokenizer and a 2-layer GPT-2 (random init, seed 0)
   trained for STEPS steps on the correct answers of the datasets, so its accuracy
   is well above chance;
   `models/candidate`: the baseline with Gaussian noise (NOISE) added to its weights (seed 1), which
   degrades it unevenly across tasks;
   `models/candidate2`: the same perturbation with another seed (2), a different model whose
   sample logs stand in for "samples of another run";
4. then runs the real `lm_eval` command line on each model with `--log_samples` into
   `out/<model>/`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

TASKS = ["tiny_add", "tiny_add_carry", "tiny_cmp", "tiny_next"]
ITEMS = 40
STEPS = 1500  # training steps of the baseline
NOISE = 0.5  # the perturbation: Gaussian noise of this many standard deviations of each weight tensor
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def make_data(root: Path) -> dict[str, list[dict[str, object]]]:
    """Each item: a question, four choices, the index of the right one."""
    rng = random.Random(14)
    data: dict[str, list[dict[str, object]]] = {t: [] for t in TASKS}

    def choices(right: str, pool: list[str]) -> tuple[list[str], int]:
        wrong = rng.sample([p for p in pool if p != right], 3)
        opts = [right, *wrong]
        rng.shuffle(opts)
        return opts, opts.index(right)

    numbers = [str(i) for i in range(20)]
    seen: set[tuple[str, str]] = set()
    while len(data["tiny_add"]) < ITEMS or len(data["tiny_add_carry"]) < ITEMS:
        a, b = rng.randrange(10), rng.randrange(10)
        task = "tiny_add" if a + b < 10 else "tiny_add_carry"
        if (task, f"{a}+{b}") in seen or len(data[task]) >= ITEMS:
            continue
        seen.add((task, f"{a}+{b}"))
        opts, gold = choices(str(a + b), numbers)
        data[task].append({"question": f"{a}+{b}=", "choices": opts, "label": gold})
    while len(data["tiny_cmp"]) < ITEMS:
        a, b = rng.sample(range(100), 2)
        if ("tiny_cmp", f"{a},{b}") in seen:
            continue
        seen.add(("tiny_cmp", f"{a},{b}"))
        right = str(max(a, b))
        pool = [str(a), str(b), str(rng.randrange(100)), str(rng.randrange(100))]
        opts = list(dict.fromkeys(pool))
        while len(opts) < 4:
            extra = str(rng.randrange(100))
            if extra not in opts:
                opts.append(extra)
        rng.shuffle(opts)
        data["tiny_cmp"].append({"question": f"max {a} {b}=", "choices": opts, "label": opts.index(right)})
    for i in range(ITEMS):
        letter = LETTERS[i % 25]
        # each letter up to twice, in two phrasings, so 40 distinct items over 25 letters
        q = f"after {letter}=" if i < 25 else f"next {letter}="
        opts, gold = choices(LETTERS[LETTERS.index(letter) + 1], list(LETTERS))
        data["tiny_next"].append({"question": q, "choices": opts, "label": gold})
    (root / "data").mkdir(parents=True, exist_ok=True)
    for task, items in data.items():
        with open(root / "data" / f"{task}.jsonl", "w") as f:
            for item in items:
                f.write(json.dumps(item) + "\n")
    return data


def make_tasks(root: Path) -> None:
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        (tasks / f"{task}.yaml").write_text(f"""task: {task}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    test: data/{task}.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
""")
    (tasks / "tiny_arith.yaml").write_text("""group: tiny_arith
task:
  - tiny_add
  - tiny_add_carry
aggregate_metric_list:
  - metric: acc
    aggregation: mean
    weight_by_size: true
metadata:
  version: 1.0
""")
    (tasks / "tiny_suite.yaml").write_text("""group: tiny_suite
task:
  - tiny_arith
  - tiny_cmp
  - tiny_next
aggregate_metric_list:
  - metric: acc
    aggregation: mean
    weight_by_size: true
metadata:
  version: 1.0
""")


def make_models(root: Path, data: dict[str, list[dict[str, object]]]) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    torch.set_num_threads(1)
    alphabet = sorted(set("0123456789+=, " + LETTERS + "maxfterns"))
    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(alphabet)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   bos_token="<eos>", unk_token="<eos>")
    texts = [f"{item['question']}{item['choices'][item['label']]}"  # type: ignore[index]
             for items in data.values() for item in items]
    config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=64, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = GPT2LMHeadModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    enc = fast(["<eos>" + t + "<eos>" for t in texts], padding=True, return_tensors="pt")
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    model.train()
    for step in range(STEPS):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == STEPS - 1:
            print(f"step {step} loss {loss.item():.4f}", flush=True)
    model.eval()
    model.save_pretrained(root / "models" / "baseline")
    fast.save_pretrained(root / "models" / "baseline")
    for name, seed in (("candidate", 1), ("candidate2", 2)):
        gen = torch.Generator().manual_seed(seed)
        noisy = GPT2LMHeadModel(config)
        noisy.load_state_dict(model.state_dict())
        with torch.no_grad():
            for p in noisy.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * NOISE * p.std())
        noisy.save_pretrained(root / "models" / name)
        fast.save_pretrained(root / "models" / name)


def run_lm_eval(root: Path, name: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    cmd = ["lm_eval", "--model", "hf", "--model_args", f"pretrained=models/{name},dtype=float32",
           "--tasks", "tiny_suite", "--include_path", "tasks", "--device", "cpu", "--batch_size", "8",
           "--log_samples", "--output_path", f"out/{name}", "--seed", "0"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, env=env, check=True)


def main() -> None:
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    data = make_data(root)
    make_tasks(root)
    make_models(root, data)
    for name in ("baseline", "candidate", "candidate2"):
        run_lm_eval(root, name)


if __name__ == "__main__":
    main()
