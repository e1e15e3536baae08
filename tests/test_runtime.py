"""The process settings of sigprop's commands (``sigprop.runtime``): defaults for this
process and the ones it starts, an explicit setting left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sigprop.runtime import ALLOCATOR, BLAS_THREADS

SETTINGS = (*BLAS_THREADS, *(name for name, _, _ in ALLOCATOR))
REPORT = ("import json, os; from sigprop.runtime import configure; configure(); "
          f"print(json.dumps({{n: os.environ.get(n) for n in {SETTINGS!r}}}))")


def _configured(**given: str) -> dict[str, str | None]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS} | given
    out = subprocess.run([sys.executable, "-c", REPORT], env=env, capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return json.loads(out.stdout)


def test_defaults_are_one_blas_thread_and_the_allocator_thresholds() -> None:
    expected = {name: "1" for name in BLAS_THREADS}
    expected |= {name: str(value) for name, _, value in ALLOCATOR}
    assert _configured() == expected


def test_an_explicit_setting_is_respected() -> None:
    settings = _configured(OMP_NUM_THREADS="2", MALLOC_TRIM_THRESHOLD_="131072")
    assert settings["OMP_NUM_THREADS"] == "2"
    assert settings["MALLOC_TRIM_THRESHOLD_"] == "131072"
    assert settings["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)
