"""bot.memory: the malloc arena cap, observed through glibc's own malloc_info report."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from bot.memory import limit_malloc_arenas

GLIBC = hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# Run in a fresh interpreter: eight threads allocate (blocks big enough to bypass pymalloc), then
# glibc reports its arenas ("<heap nr=...>" per arena) to a file, and the count is printed.
_PROBE = """
import ctypes, sys, tempfile, threading
from bot.memory import limit_malloc_arenas
applied = limit_malloc_arenas(int(sys.argv[1])) if sys.argv[1] != "none" else False
start = threading.Barrier(8)
def work():
    start.wait()
    keep = [bytearray(4096) for _ in range(2000)]
    del keep
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    fp = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(applied, open(out.name).read().count("<heap nr="))
"""


def _arenas(cap: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, cap], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="the arena cap is a glibc setting")
def test_the_cap_keeps_threads_to_that_many_arenas() -> None:
    applied, capped = _arenas("1")
    assert applied == "True" and capped == 1
    _, free = _arenas("none")
    assert free > 1  # without it, the threads got arenas of their own


def test_an_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        limit_malloc_arenas(0)
