"""Parsing under hard limits: a pool of worker processes with a memory cap and a per-task timeout.

This module owns the last line of defence against hostile documents. Whatever a feed makes the
parser do (an entity expansion that slipped past ``bot.parse``'s checks, a pathological document
that makes a library loop or allocate without bound), it happens in a child process whose address
space is capped with ``RLIMIT_AS`` and which is killed when its task overruns the timeout. A
worker that runs out of memory, dies or is killed turns into a :class:`~bot.errors.ParseError`
for *that* task only: every worker runs one task at a time, so a failure is always attributed to
the document that caused it, and the worker is replaced before the next task.

:class:`ParsePool` is a :class:`concurrent.futures.Executor`, so it can be handed to anything
that takes an executor (``loop.run_in_executor``, ``bot.normalize.read_feed_off_loop``, the
poller). Parsing then also runs on every core instead of contending for the GIL in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import multiprocessing
import os
import pickle
import queue
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, ParamSpec, TypeVar

from bot.errors import ParseError
from bot.types import ItemIndex, Reading

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIMEOUT",
    "ParsePool",
    "read_items_sandboxed",
]

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
# A worker is replaced after this many tasks so heap fragmentation cannot creep up to the cap.
DEFAULT_RECYCLE_AFTER = 500
_AHEAD = 20  # tasks before recycling when the successor is started
# The biggest result a worker may send back: a hostile document must not be able to make the
# *parent* allocate without bound by producing a huge result.
DEFAULT_RESULT_LIMIT = 64 * 1024 * 1024
_STARTUP_TIMEOUT = 60.0
_READY = b"ready"
# Imported by each worker before it reports ready, so the first task pays no import cost.
_PRELOAD = ("bot.normalize", "bot.parse", "bot.items", "feedparser")


# What a worker's answer may contain. A worker runs hostile input through C and Python parsers;
# should one ever be subverted, a plain pickle.loads in the parent would let it run code here.
_RESULT_MODULES = frozenset({"bot.types", "bot.errors", "datetime", "collections"})
_RESULT_BUILTINS = frozenset({"set", "frozenset", "bytearray", "complex", "slice", "range"})


class _ResultUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in _RESULT_MODULES or (module == "builtins" and name in _RESULT_BUILTINS):
            return super().find_class(module, name)
        # Exceptions travel back too (ParseError, feedparser's, ...): only classes of modules
        # this process has already imported, so unpickling never imports anything new.
        loaded = sys.modules.get(module)
        found = getattr(loaded, name, None) if loaded is not None and "." not in name else None
        if isinstance(found, type) and issubclass(found, Exception):
            return found
        raise pickle.UnpicklingError(f"a parser worker sent a forbidden type: {module}.{name}")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB"


# --- the worker side ------------------------------------------------------------------------------


def _worker_main(conn: Connection, memory_limit: int, result_limit: int) -> None:
    """Entry point of a worker process: set limits, import, then serve tasks until EOF."""
    # The parent owns Ctrl-C; a worker interrupted mid-task would only spray tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    for name in _PRELOAD:
        __import__(name)
    conn.send_bytes(_READY)
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent closed the pipe (or died): nothing more to do
        conn.send_bytes(_run_one(request, result_limit))


def _run_one(request: bytes, result_limit: int) -> bytes:
    try:
        # Only ever bytes our own parent pickled, over a private pipe.
        fn, args, kwargs = pickle.loads(request)  # noqa: S301
        status, value = "ok", fn(*args, **kwargs)
    except BaseException as exc:  # MemoryError and RecursionError included: they are reports
        status, value = "err", exc
    del request
    # ru_maxrss is in KiB on Linux; the parent keeps the peak for metrics and tests.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        payload = pickle.dumps((status, value, rss), protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        payload = pickle.dumps(("err", MemoryError(), rss))
    except Exception as exc:
        reason = f"the parser's result could not be sent back ({type(exc).__name__})"
        payload = pickle.dumps(("err", ParseError(reason), rss))
    if len(payload) > result_limit:
        reason = f"the parser's result is larger than {_mib(result_limit)}"
        payload = pickle.dumps(("err", ParseError(reason), rss))
    return payload


# --- the parent side ------------------------------------------------------------------------------


class _Worker:
    """One child process and the pipe to it; used by exactly one dispatcher thread."""

    def __init__(self, memory_limit: int, result_limit: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=_worker_main,
            args=(child_conn, memory_limit, result_limit),
            name="herald-parser",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self.tasks = 0
        self.spent = False  # recycled after its next task
        try:
            ready = self.conn.poll(_STARTUP_TIMEOUT) and self.conn.recv_bytes() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise ParseError("the parser process could not be started")

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)

    def retire(self) -> None:
        """Graceful stop: closing the pipe makes the worker's ``recv`` see EOF and return."""
        with contextlib.suppress(OSError):
            self.conn.close()
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)

    def exit_reason(self) -> str:
        self.process.join(1.0)
        code = self.process.exitcode
        if code is None:
            return "no longer answering"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


_Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "Future[Any]"]


class ParsePool(Executor):
    """A fixed number of single-task worker processes with a memory cap and a timeout.

    ``memory_limit`` (bytes) caps each worker's address space (``RLIMIT_AS``); 0 disables it.
    ``timeout`` (seconds) bounds one task from the moment a worker receives it; an overrunning
    worker is killed. Both failures, and a worker that dies for any other reason, raise
    ``ParseError`` from that task's future, and the worker is replaced before its next task.

    ``start()`` spawns the workers up front and waits for them (about 0.3 s, in parallel);
    otherwise the first ``submit`` spawns them without waiting. ``close()`` stops them.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        timeout: float = DEFAULT_TIMEOUT,
        recycle_after: int = DEFAULT_RECYCLE_AFTER,
        result_limit: int = DEFAULT_RESULT_LIMIT,
    ) -> None:
        if workers is None:
            workers = max(1, min(4, os.cpu_count() or 1))
        if workers < 1:
            raise ValueError("a ParsePool needs at least one worker")
        if timeout <= 0:
            raise ValueError("the parse timeout must be positive")
        self._workers = workers
        self._memory_limit = max(0, memory_limit)
        self._timeout = timeout
        self._recycle_after = max(1, recycle_after)
        self._result_limit = result_limit
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._helpers: list[threading.Thread] = []
        self._started = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._closed = False
        self._peak_worker_rss = 0
        self.lost_workers = 0  # killed for overrunning, out of memory, or died on their own
        self.background_started = 0  # helper threads started (successor spawns, retirements)

    # -- properties ----------------------------------------------------------------------------

    @property
    def background_running(self) -> int:
        """Helper threads still running; ``shutdown(wait=True)`` leaves none."""
        with self._lock:
            return sum(t.is_alive() for t in self._helpers)

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def memory_limit(self) -> int:
        return self._memory_limit

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def peak_worker_rss(self) -> int:
        """Highest peak resident set size (bytes) a worker reported after finishing a task."""
        return self._peak_worker_rss

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ParsePool:
        """Spawn every worker now and block until each is ready (or failed to start).

        Idempotent; returns ``self``. Call it at start-up, not on the event loop's hot path.
        """
        if self._spawn_threads():
            deadline = time.monotonic() + _STARTUP_TIMEOUT + 5
            for _ in range(self._workers):
                self._started.acquire(timeout=max(0.0, deadline - time.monotonic()))
        return self

    def close(self) -> None:
        """Stop every worker and wait for them; queued tasks fail with ``ParseError``."""
        self.shutdown(wait=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            threads = [] if self._closed else list(self._threads)
            self._closed = True
            for _ in threads:
                self._queue.put(None)
        if cancel_futures or not threads:
            self._fail_queued()
        if wait:
            for thread in threads:
                thread.join()
            with self._lock:
                helpers = list(self._helpers)
            for thread in helpers:
                thread.join()

    def __enter__(self) -> ParsePool:
        return self.start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        self._spawn_threads()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a closed ParsePool")
            self._queue.put((fn, args, dict(kwargs), future))
        return future

    def _spawn_threads(self) -> bool:
        """Start the dispatcher threads once; True when this call started them."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this ParsePool is closed")
            if self._threads:
                return False
            for index in range(self._workers):
                thread = threading.Thread(
                    target=self._dispatch, name=f"herald-parse-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            return True

    # -- dispatching: one thread per worker, one task per worker at a time --------------------

    def _new_worker(self) -> _Worker:
        try:
            return _Worker(self._memory_limit, self._result_limit)
        except ParseError:
            raise
        except Exception as exc:  # e.g. an unguarded __main__ under the spawn start method
            raise ParseError(f"the parser process could not be started ({exc!r:.200})") from None

    def _dispatch(self) -> None:
        worker: _Worker | None = None
        # The next worker, started a few tasks before this one is recycled: spawning one costs
        # a few hundred milliseconds, which would otherwise stall a poll round.
        successor: Future[_Worker] | None = None
        try:
            try:
                worker = self._new_worker()
            except ParseError:
                worker = None  # retried, and then reported, when the first task arrives
            finally:
                self._started.release()
            while (task := self._queue.get()) is not None:
                fn, args, kwargs, future = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    worker = worker or self._new_worker()
                    future.set_result(self._run(worker, fn, args, kwargs))
                except BaseException as exc:
                    future.set_exception(exc)
                if worker is not None:
                    if worker.spent:
                        self._in_background(worker.retire)
                        worker = None
                    elif not worker.alive:
                        worker = None
                    elif successor is None and worker.tasks >= self._recycle_after - _AHEAD:
                        successor = self._in_background(self._new_worker)
                if worker is None and not self._closed:
                    if successor is not None:
                        with contextlib.suppress(ParseError):
                            worker = successor.result()
                        successor = None
                    if worker is None:
                        # Replace a lost worker now, while idle, not when the next task waits.
                        with contextlib.suppress(ParseError):
                            worker = self._new_worker()
        finally:
            if worker is not None:
                worker.retire()
            if successor is not None:
                with contextlib.suppress(ParseError):
                    successor.result().retire()
            self._fail_queued()

    def _in_background(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on a helper thread that ``shutdown(wait=True)`` waits for."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        thread = threading.Thread(target=run, name="herald-parse-helper", daemon=True)
        with self._lock:
            self._helpers = [t for t in self._helpers if t.is_alive()]
            self._helpers.append(thread)
            self.background_started += 1
        thread.start()
        return done

    def _run(
        self, worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        request = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        started = time.monotonic()
        try:
            worker.conn.send_bytes(request)
            del request
            if not worker.conn.poll(max(0.0, self._timeout - (time.monotonic() - started))):
                worker.kill()
                self.lost_workers += 1
                raise ParseError(f"parsing took longer than {self._timeout:g} s and was stopped")
            # maxlength is a backstop: the worker already refuses to send oversized results.
            data = worker.conn.recv_bytes(maxlength=self._result_limit + 4096)
        except (EOFError, OSError):
            # EOF: the worker died mid-task (the kernel's OOM killer, a crash in C code, ...).
            reason = worker.exit_reason()
            worker.kill()
            self.lost_workers += 1
            raise ParseError(
                f"the parser process died ({reason}); the document may need more than "
                f"{_mib(self._memory_limit)} to parse"
            ) from None
        try:
            status, value, rss = _ResultUnpickler(io.BytesIO(data)).load()
        except Exception as exc:
            worker.kill()
            self.lost_workers += 1
            raise ParseError(f"the parser process sent an invalid answer ({exc})") from None
        self._peak_worker_rss = max(self._peak_worker_rss, int(rss))
        worker.tasks += 1
        if worker.tasks >= self._recycle_after or isinstance(value, MemoryError):
            # A worker that hit its cap may have a heap too fragmented to be useful: replace it.
            worker.spent = True
        if status == "ok":
            return value
        if isinstance(value, MemoryError):
            self.lost_workers += 1
            raise ParseError(
                f"the document needs more than {_mib(self._memory_limit)} of memory to parse"
            )
        if isinstance(value, RecursionError):
            raise ParseError("the document is nested too deeply to parse")
        raise value

    def _fail_queued(self) -> None:
        stops = 0
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                stops += 1  # another dispatcher's stop signal: hand it back
            elif task[3].set_running_or_notify_cancel():
                task[3].set_exception(ParseError("the parser pool was shut down"))
        for _ in range(stops):
            self._queue.put(None)


async def read_items_sandboxed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    pool: ParsePool,
    known: bytes = b"",
    previous: ItemIndex | None = None,
) -> Reading:
    """:func:`bot.items.read_items` in ``pool``: hard memory and time limits.

    Every failure is a ``ParseError`` for this document only: the pool's own (memory cap,
    timeout, dead worker) and any unexpected exception the parser raised on hostile input.
    """
    from bot.items import read_items

    call = functools.partial(
        read_items,
        body,
        url=url,
        content_type=content_type,
        max_entries=max_entries,
        known=known,
        previous=previous,
    )
    return await _in_pool(pool, call)


async def _in_pool(pool: ParsePool, call: Callable[[], T]) -> T:
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, call)
    except ParseError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ParseError(
            f"the parser failed on this document ({type(exc).__name__}: {detail})"
        ) from None
