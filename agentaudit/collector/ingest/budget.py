"""The decode memory budget: bytes of export requests in flight, across all requests.

A receiver holds memory for a request from the first byte it reads until the decoded
spans have been handed to the pipeline: the body as read, the inflated body (gzip), the
parser's working memory, the decoded spans. Each request takes a :class:`Lease` on the
process's one :class:`MemoryBudget` and grows it *before* each allocation, so the sum
over all requests stays within the budget's capacity whatever clients send (gzip bombs,
dense protobuf, many requests at once).

Two answers when a lease cannot grow, both raised from :meth:`Lease.grow`:

* :class:`OverBudget` — this request alone would need more than the whole budget: it
  can never succeed, so it is refused for good (413 / RESOURCE_EXHAUSTED).
* :class:`BudgetExhausted` — other requests hold the memory: after waiting up to
  ``wait`` seconds for them to finish, the client gets retryable backpressure (a
  :class:`~agentaudit.collector.errors.Backpressure`: 503 + Retry-After / UNAVAILABLE +
  RetryInfo). Nothing blocks longer than ``wait``.

Invariants: a lease never holds more than the capacity; everything a lease holds is
returned by :meth:`Lease.close` (``with budget.lease() as lease:``), on every path, and
only once the memory is dropped: an exception leaving the ``with`` block has the frames
it passed cleared first (:func:`drop_frames`), so its traceback does not keep an
inflated body alive after the budget is given back.
Standard library only (a receive-only worker imports it).
"""

from __future__ import annotations

import ctypes
import threading
import time
import traceback

from agentaudit.collector.errors import Backpressure

__all__ = [
    "DEFAULT_CAPACITY",
    "BudgetExhausted",
    "Lease",
    "MemoryBudget",
    "OverBudget",
    "drop_frames",
    "pin_mmap_threshold",
]

DEFAULT_CAPACITY = 256 * 1024 * 1024
"""The default budget (the ``decode_budget_bytes`` setting's default)."""

RETRY_AFTER = 1.0
"""Seconds a client is asked to wait after :class:`BudgetExhausted`."""


class OverBudget(Exception):
    """One request needs more memory than the whole budget: refuse it, do not retry."""


class BudgetExhausted(Backpressure):
    """Other requests hold the budget; the client should retry shortly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=RETRY_AFTER)


class MemoryBudget:
    """A byte semaphore: ``capacity`` bytes shared by every request's :class:`Lease`.

    ``wait``: how long a request waits for others to release before it is answered
    with :class:`BudgetExhausted`. Thread-safe.
    """

    def __init__(self, capacity: int, *, wait: float = 1.0) -> None:
        if capacity <= 0:
            raise ValueError("a memory budget needs a positive capacity")
        self.capacity = capacity
        self.wait = wait
        self._in_use = 0
        self.peak = 0
        """The most bytes held at once since the budget was made."""
        self._changed = threading.Condition(threading.Lock())

    @classmethod
    def for_process(cls, capacity: int) -> MemoryBudget:
        """The process's budget of ``capacity`` bytes, shared by every receiver in it.

        One object per capacity, so the gRPC and HTTP receivers a collector builds
        separately draw on one budget; a test that builds a collector with another
        capacity gets its own. Also pins the allocator's mmap threshold
        (:func:`pin_mmap_threshold`), so that memory given back to the budget is given
        back to the system.
        """
        with _SHARED_LOCK:
            budget = _SHARED.get(capacity)
            if budget is None:
                pin_mmap_threshold()
                budget = _SHARED[capacity] = cls(capacity)
            return budget

    @property
    def in_use(self) -> int:
        """Bytes held by all leases right now."""
        return self._in_use

    def lease(self) -> Lease:
        """A new, empty lease for one request."""
        return Lease(self)

    def _acquire(self, size: int, *, block: bool) -> bool:
        deadline = time.monotonic() + self.wait
        with self._changed:
            while self._in_use + size > self.capacity:
                remaining = deadline - time.monotonic()
                if not block or remaining <= 0:
                    return False
                self._changed.wait(remaining)
            self._in_use += size
            self.peak = max(self.peak, self._in_use)
            return True

    def _release(self, size: int) -> None:
        if size:
            with self._changed:
                self._in_use -= size
                self._changed.notify_all()


_SHARED: dict[int, MemoryBudget] = {}
_SHARED_LOCK = threading.Lock()

MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def pin_mmap_threshold() -> bool:
    """Make glibc serve every allocation of :data:`MMAP_THRESHOLD` or more with its own
    mapping, returned to the system when freed; False where that cannot be set.

    By default glibc raises the threshold (up to 32 MiB) each time such a mapping is
    freed, after which buffers of that size come from the heap, where a freed one is
    kept (and a growing one copied). Under bombs that made the RSS of a receiving
    process grow 370-560 MiB with 256 MiB of decode budget in use; pinned, 256-260 MiB.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


class Lease:
    """What one request holds of a :class:`MemoryBudget`; a context manager.

    Used by one request at a time (not shared between threads concurrently), though
    the request may move between threads (the HTTP receiver's event loop and its
    thread pool).
    """

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self.held = 0

    def grow(self, size: int) -> None:
        """Take ``size`` more bytes, waiting up to ``budget.wait`` for them.

        Raises :class:`OverBudget` when this lease would exceed the whole capacity,
        :class:`BudgetExhausted` when the others did not release enough in time.
        """
        if size <= 0:
            return
        self._check(size)
        if not self.budget._acquire(size, block=True):
            raise BudgetExhausted(
                f"the collector's decode memory ({self.budget.capacity} bytes, "
                "decode_budget_bytes) is in use by other exports; retry shortly"
            )
        self.held += size

    def try_grow(self, size: int) -> bool:
        """Take ``size`` more bytes if they are free now; never waits.

        Raises :class:`OverBudget` like :meth:`grow`.
        """
        if size <= 0:
            return True
        self._check(size)
        if not self.budget._acquire(size, block=False):
            return False
        self.held += size
        return True

    def shrink(self, size: int) -> None:
        """Give back ``size`` bytes (memory the request has dropped)."""
        size = min(size, self.held)
        self.held -= size
        self.budget._release(size)

    def close(self) -> None:
        """Give back everything; the lease can be used again afterwards."""
        self.shrink(self.held)

    def _check(self, size: int) -> None:
        if self.held + size > self.budget.capacity:
            raise OverBudget(
                f"decoding this export needs more than the collector's decode memory "
                f"budget of {self.budget.capacity} bytes (decode_budget_bytes); send "
                "smaller exports"
            )

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is not None:
            drop_frames(error)
        self.close()


def drop_frames(error: BaseException) -> None:
    """Clear the locals of the frames ``error`` (and what it was raised from) passed.

    A failed decode's traceback keeps its frames, and so the inflated body and the
    parser's memory, alive for as long as the exception is: call this before the lease
    is closed, or the budget would be given back before the memory is.
    """
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__context__ or current.__cause__
