"""`deny_unsafe_models:` judged by content against changes described as data (MemoryFacts): pickles
under any name, PyTorch-style zip checkpoints, text-protocol pickles, safetensors and GGUF
headers, and files too large to scan. Real pushes: tests/rules/test_content_push.py."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any

import pytest

from engine.change import ChangedPath, Commit
from engine.decision import Outcome
from engine.rules.models import header_format, judge_model
from tests.rules._memory import NEW, OLD, TREE, outcome

POLICY = "version: 1\nname: t\nrules:\n  - id: models\n    deny_unsafe_models: {}\n"


class RunsACommand:
    """Unpickling this calls os.system: the classic malicious checkpoint (never loaded here)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch /tmp/changegate-pwned",))


def evil_pickle(protocol: int = 4) -> bytes:
    return pickle.dumps({"weights": [0.1, 0.2], "hook": RunsACommand()}, protocol=protocol)


def benign_pickle() -> bytes:
    return pickle.dumps(OrderedDict(layer=[1.0, 2.0], bias=(0.5,)), protocol=4)


def torch_style_zip(payload: bytes) -> bytes:
    """The layout torch.save writes: a zip whose archive/data.pkl is the pickle."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
        z.writestr("archive/data/0", b"\x00" * 16)
    return out.getvalue()


def safetensors_file() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0)


def gguf_file() -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 0)


def judged(files: dict[str, bytes], policy: str = POLICY, **facts: Any) -> Outcome:
    blobs = {f"{n + 1:040x}": data for n, data in enumerate(files.values())}
    commit = Commit(NEW, TREE, (OLD,), "Ann", "ann@example.com", tuple(
        ChangedPath(path.encode(), "A", f"{n + 1:040x}", "100644") for n, path in enumerate(files)))
    return outcome(policy, stage="push", commits=[commit], blobs=blobs, **facts)


@pytest.mark.parametrize("name", ["models/adapter.bin", "ckpt/last.ckpt", "m.pkl", "weights", "notes.txt"])
def test_a_pickle_that_runs_a_command_is_denied_under_any_name(name: str) -> None:
    found = judged({name: evil_pickle()})
    assert found.status == "fail"
    assert "a pickle that imports" in found.seen[0] and ".system (dangerous)" in found.seen[0]
    assert found.paths == (name,)


def test_a_malicious_pickle_inside_a_pytorch_style_zip_is_denied() -> None:
    found = judged({"pytorch_model.bin": torch_style_zip(evil_pickle(2))})
    assert found.status == "fail" and "zip archive of pickles" in found.seen[0]


def test_a_text_protocol_pickle_is_told_from_text() -> None:
    assert judged({"prompt.txt": evil_pickle(0)}).status == "fail"
    assert judged({"notes.md": evil_pickle(0) + b"\n# trailing text pickle.load never reads\n"}).status == "fail"
    assert judge_model(b"import os\nos.system('ls')\n", b"a.py").format == ""  # a script is not a pickle


def test_benign_pickles_safetensors_and_gguf_pass_and_are_recognised() -> None:
    found = judged({"a.pkl": benign_pickle(), "b.bin": torch_style_zip(benign_pickle()),
                    "c.safetensors": safetensors_file(), "d": gguf_file(), "README.md": b"# hi\n"})
    assert found.status == "pass"
    assert found.message == ("no unsafe model among 5 new or changed files; recognised: 1 gguf, 1 pickle, "
                             "1 safetensors, 1 zip archive of pickles (e.g. a PyTorch checkpoint)")


def test_safe_globals_extend_the_scanners_safe_list() -> None:
    data = pickle.dumps(json.JSONDecoder, protocol=4)  # json.decoder.JSONDecoder: outside picklescan's safe list
    assert judged({"m.pkl": data}).status == "fail"
    allowed = "version: 1\nname: t\nrules:\n  - id: m\n    deny_unsafe_models: {safe_globals: [json.decoder.*]}\n"
    assert judged({"m.pkl": data}, allowed).status == "pass"


def test_a_file_over_max_file_size_is_judged_by_its_header() -> None:
    policy = "version: 1\nname: t\nrules:\n  - id: m\n    deny_unsafe_models: {max_file_size: 16B}\n"
    assert judged({"big.safetensors": safetensors_file(), "big.txt": b"just some text, long enough\n"},
                  policy).status == "pass"
    found = judged({"big.bin": evil_pickle()}, policy)
    assert found.status == "fail" and "over max_file_size 16B" in found.seen[0] and "too large to scan" in found.seen[0]


def test_the_per_push_cap_fails_closed_and_names_the_cap() -> None:
    policy = "version: 1\nname: t\nrules:\n  - id: m\n    deny_unsafe_models: {max_push_size: 20B}\n"
    found = judged({"m.pkl": benign_pickle()}, policy)
    assert found.status == "fail" and "(max_push_size 20B)" in found.message


def test_headers_are_recognised_exactly() -> None:
    data = safetensors_file()
    assert header_format(data, len(data)) == "safetensors"
    assert header_format(data[:64], len(data)) == "safetensors"  # the head of a large file
    assert header_format(b"\x10" + b"\x00" * 7 + b"{not closed" + b"x" * 8, 27) == ""
    assert header_format(gguf_file(), 24) == "gguf"
    assert header_format(b"GGUF" + struct.pack("<I", 99), 8) == ""
