"""Reading file contents for content rules (deny_secrets, deny_unsafe_models), shared by every
Facts implementation: each blob is read at most once per decision, whichever rules and commits
ask for it, and never beyond two caps.

- Per blob (`max_blob`): a larger blob is not kept; the caller learns its size and skips it (and
  says so), or asks for its first `head` bytes, which are streamed past and dropped.
- Per push (`max_total`): the bytes of every blob one rule asks for (kept or streamed past,
  whether read now or already read for another rule) may not exceed that rule's cap; past it
  `ContentLimit` is raised before anything is read, and the rule fails closed naming its cap.
  Counting what a rule asks for, not what this call adds, keeps a rule's verdict independent
  of which rules ran before it.

Contents read are kept for the other rules of the same decision; the per-push cap bounds them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import NamedTuple, TypeAlias

    # (blob id, bytes to keep) -> (blob id, size or -1, kept bytes), in order
    Reader: TypeAlias = Callable[[Sequence[tuple[str, int]]], Iterable[tuple[str, int, bytes]]]
else:
    from engine.lighttuple import NamedTuple


class Blobs(NamedTuple):
    """What a content read found, by blob id."""

    data: dict[str, bytes]  # whole contents of each blob of at most max_blob bytes
    over: dict[str, int]  # size of each blob over max_blob (its contents not kept)
    heads: dict[str, bytes]  # the first `head` bytes of each blob over max_blob, when asked for
    missing: tuple[str, ...]  # not there, or not a blob: nothing can be said of its contents


class ContentLimit(Exception):
    """Reading the contents a rule needs would pass the per-push cap: the rule cannot judge them."""

    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(f"the contents to read come to {needed:,} bytes, over the per-push cap of {limit:,} bytes")
        self.needed = needed
        self.limit = limit


class ContentCache:
    """Blob contents read so far in one decision, and how many bytes that took."""

    def __init__(self, sizes: Callable[[Sequence[str]], dict[str, int]], reader: Reader) -> None:
        self._sizes = sizes
        self._reader = reader
        self._data: dict[str, bytes] = {}
        self._heads: dict[str, bytes] = {}
        self.total = 0  # bytes read (streamed) in this decision, over every rule
        self.reads = 0  # blobs read

    def read(self, oids: Sequence[str], *, max_blob: int, max_total: int, head: int = 0) -> Blobs:
        wanted = list(dict.fromkeys(oids))
        sizes = self._sizes(wanted)
        missing = tuple(o for o in wanted if o not in sizes)
        small = [o for o in wanted if o in sizes and sizes[o] <= max_blob]
        large = [o for o in wanted if o in sizes and sizes[o] > max_blob]
        todo = [(o, sizes[o]) for o in small if o not in self._data]
        if head:
            todo += [(o, head) for o in large if o not in self._data and o not in self._heads]
        needed = sum(sizes[o] for o in small) + (sum(sizes[o] for o in large) if head else 0)
        if needed > max_total:
            raise ContentLimit(needed, max_total)
        cost = sum(sizes[o] for o, _ in todo)
        lost: list[str] = []
        for oid, size, data in self._reader(todo):
            if size < 0:
                lost.append(oid)
            elif size <= max_blob:
                self._data[oid] = data
            else:
                self._heads[oid] = data
        self.total += cost
        self.reads += len(todo)
        gone = set(lost)
        return Blobs({o: self._data[o] for o in small if o not in gone},
                     {o: sizes[o] for o in large if o not in gone},
                     {o: self._heads.get(o, self._data.get(o, b""))[:head] for o in large if head and o not in gone},
                     missing + tuple(lost))
