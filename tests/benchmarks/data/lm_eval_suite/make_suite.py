"""Writes the lm-eval suite and sample-log files in this folder (run it to regenerate them).

The files follow lm-evaluation-harness 0.4's output schema: `results_<time>.json` with
`results`, nested `group_subtasks`, `n-samples`, `higher_is_better`, and `--log_samples`
files `samples_<task>_<time>.jsonl`, one JSON object per document with `doc_id`, `doc`,
`filter`, `metrics`, the metric values and `doc_hash` (sha256 of the document's JSON).
The scores are made up, deterministic, and chosen so that each verdict is known:

- MMLU (57 subtasks in 4 nested groups): the candidate loses 30 of 102 items on
  college_physics and 60 of 310 on high_school_biology (significant even after Holm), 25 of
  234 on marketing (significant alone, not after Holm over 57 tasks), and moves by at most
  2 items elsewhere;
- boolq (500 items): the candidate gets 15 items wrong that the baseline got right and
  none the other way round: a 0.03 drop that two independent means cannot tell from noise
  but paired items can;
- piqa (1000 items): 4 items lost and 3 gained: the same items show the change is tiny.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

HERE = Path(__file__).parent
TIME = {"baseline": "2026-11-20T10-00-00.000000", "candidate": "2026-11-30T10-00-00.000000"}

MMLU = {
    "mmlu_stem": ["abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
                  "college_computer_science", "college_mathematics", "college_physics", "computer_security",
                  "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
                  "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
                  "high_school_physics", "high_school_statistics", "machine_learning"],
    "mmlu_humanities": ["formal_logic", "high_school_european_history", "high_school_us_history",
                        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
                        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
                        "world_religions"],
    "mmlu_social_sciences": ["econometrics", "high_school_geography", "high_school_government_and_politics",
                             "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
                             "human_sexuality", "professional_psychology", "public_relations", "security_studies",
                             "sociology", "us_foreign_policy"],
    "mmlu_other": ["business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
                   "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
                   "professional_accounting", "professional_medicine", "virology"],
}
DROPS = {"college_physics": 30, "high_school_biology": 60, "marketing": 25}


def sizes_and_scores() -> dict[str, tuple[int, int, int]]:
    """task -> (n, baseline correct, candidate correct)."""
    out = {}
    for i, name in enumerate(n for names in MMLU.values() for n in names):
        n = {"college_physics": 102, "high_school_biology": 310, "marketing": 234}.get(name, 100 + (i * 37) % 250)
        base = round(n * (0.55 + 0.3 * ((i * 13) % 17) / 16))
        cand = base - DROPS.get(name, 0) if name in DROPS else base + ((i * 5) % 5) - 2
        out[f"mmlu_{name}"] = (n, base, min(n, max(0, cand)))
    return out


def stderr(k: int, n: int) -> float:
    p = k / n
    return math.sqrt(p * (1 - p) / (n - 1))


def paired_scores(side: str) -> dict[str, list[int]]:
    boolq = [1 if (i * 7) % 10 < 7 else 0 for i in range(500)]  # 350 of 500
    piqa = [1 if (i * 3) % 10 < 7 else 0 for i in range(1000)]  # 700 of 1000
    if side == "candidate":
        right = [i for i, s in enumerate(boolq) if s]
        for i in right[:15]:
            boolq[i] = 0
        piqa_right = [i for i, s in enumerate(piqa) if s]
        piqa_wrong = [i for i, s in enumerate(piqa) if not s]
        for i in piqa_right[:4]:
            piqa[i] = 0
        for i in piqa_wrong[:3]:
            piqa[i] = 1
    return {"boolq": boolq, "piqa": piqa}


def write(side: str) -> None:
    folder = HERE / side
    folder.mkdir(exist_ok=True)
    results: dict[str, dict[str, object]] = {}
    n_samples: dict[str, dict[str, int]] = {}
    hib: dict[str, dict[str, bool]] = {}
    total_k = total_n = 0
    for task, (n, base, cand) in sizes_and_scores().items():
        k = base if side == "baseline" else cand
        results[task] = {"alias": f"  - {task.removeprefix('mmlu_').replace('_', ' ')}",
                         "acc,none": k / n, "acc_stderr,none": stderr(k, n)}
        n_samples[task] = {"original": n, "effective": n}
        hib[task] = {"acc": True}
        total_k, total_n = total_k + k, total_n + n
    results["mmlu"] = {"acc,none": total_k / total_n, "acc_stderr,none": stderr(total_k, total_n), "alias": "mmlu"}
    hib["mmlu"] = {"acc": True}
    for task, scores in paired_scores(side).items():
        k, n = sum(scores), len(scores)
        results[task] = {"alias": task, "acc,none": k / n, "acc_stderr,none": stderr(k, n)}
        n_samples[task] = {"original": {"boolq": 3270, "piqa": 1838}[task], "effective": n}
        hib[task] = {"acc": True}
        with (folder / f"samples_{task}_{TIME[side]}.jsonl").open("w") as f:
            for i, s in enumerate(scores):
                doc = {"question": f"{task} question {i}", "label": i % 2}
                f.write(json.dumps({
                    "doc_id": i, "doc": doc, "target": doc["label"],
                    "arguments": {"gen_args_0": {"arg_0": f"{task} question {i}", "arg_1": " yes"}},
                    "resps": [[["-0.5", str(bool(s))]]], "filtered_resps": [["-0.5", str(bool(s))]],
                    "filter": "none", "metrics": ["acc"],
                    "doc_hash": hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(),
                    "prompt_hash": hashlib.sha256(f"{task} question {i}".encode()).hexdigest(),
                    "target_hash": hashlib.sha256(str(doc["label"]).encode()).hexdigest(),
                    "acc": float(s)}) + "\n")
    group_subtasks: dict[str, list[str]] = {"mmlu": list(MMLU)}
    for group, names in MMLU.items():
        group_subtasks[group] = [f"mmlu_{n}" for n in names]
        for name in names:
            group_subtasks[f"mmlu_{name}"] = []
    group_subtasks.update(boolq=[], piqa=[])
    data = {"results": results, "group_subtasks": group_subtasks, "configs": {}, "versions": {},
            "n-shot": {}, "higher_is_better": hib, "n-samples": n_samples,
            "config": {"model": "hf", "model_args": f"pretrained=example/{side}", "limit": None},
            "lm_eval_version": "0.4.8", "model_name": f"example/{side}"}
    (folder / f"results_{TIME[side]}.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    for side in ("baseline", "candidate"):
        write(side)
