"""``sigprop propagate``'s two inputs, read without evaluating anything a user wrote.

SPEC is ``key=value,...`` or a TOML file of the same keys:

    L n d d_k d_v d_ff heads          integers (d_k, d_v default to d, d_ff to d)
    norm       none | pre | post
    attention  softmax | uniform
    mask       none | causal
    mlp        none | linear | relu | gelu | tanh
    alpha_1 alpha_2                   a number or a formula in L, e.g. 1/sqrt(L)
    sigma_q sigma_k sigma_v sigma_o sigma_1 sigma_2   standard deviations (default Xavier)
    temperature  inv_sqrt_dk | inv_dk

The default variances are the paper's Xavier/He values (architecture.model).

INPUT is ``gram:rho=R,s=S`` (a fixed X with X X^T = s d ((1-rho) I + rho J)),
``gaussian:rho=R,sigma_x=S`` (exchangeable Gaussian tokens, entries of variance
sigma_x^2, correlation rho between tokens) or ``rank-one`` (n copies of one token of
squared norm d).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import ACTIVATIONS, KINDS, MASKS
from architecture.validate import check_correlation, check_positive
from sigprop.expressions import parse_formula

INTS = ("L", "n", "d", "d_k", "d_v", "d_ff", "heads")
CHOICES = {"norm": ("none", "pre", "post"), "attention": KINDS, "mask": MASKS,
           "mlp": ("none", *ACTIVATIONS), "temperature": ("inv_sqrt_dk", "inv_dk")}
ALPHAS = ("alpha_1", "alpha_2")
SIGMAS = ("sigma_q", "sigma_k", "sigma_v", "sigma_o", "sigma_1", "sigma_2")
KEYS = (*INTS, *CHOICES, *ALPHAS, *SIGMAS)
#: the largest sizes propagate takes (the theory is exact arithmetic on n x n matrices)
LIMITS = {"L": 128, "n": 32, "d": 4096, "d_k": 4096, "d_v": 4096, "d_ff": 16384, "heads": 64}
DEFAULTS = {"L": 4, "n": 4, "d": 32, "heads": 1, "norm": "none", "attention": "softmax",
            "mask": "none", "mlp": "relu", "alpha_1": "1", "alpha_2": "1",
            "temperature": "inv_sqrt_dk"}
MAX_TEXT = 4000
S = TypeVar("S")


@dataclass(frozen=True)
class ArchSpec:
    """A validated SPEC: every key resolved (alphas as given and as numbers)."""

    L: int
    n: int
    d: int
    d_k: int
    d_v: int
    d_ff: int
    heads: int
    norm: str
    attention: str
    mask: str
    mlp: str
    temperature: str
    alpha_1: str
    alpha_2: str
    sigmas: dict[str, float]

    def alpha(self, name: str) -> float:
        """alpha_1 or alpha_2 at this depth (a formula in L evaluated at L)."""
        return parse_formula(getattr(self, name), ("L",)).value({"L": float(self.L)})

    def model(self) -> Model:
        attention = xavier_attention(self.d, self.d_k, self.d_v, self.heads, self.attention,
                                     self.mask, self.temperature)
        attention = _with_sigmas(attention, self.sigmas, ("sigma_q", "sigma_k", "sigma_v",
                                                          "sigma_o"))
        mlp = None
        if self.mlp != "none":
            mlp = _with_sigmas(xavier_mlp(self.d, self.mlp, self.d_ff), self.sigmas,
                               ("sigma_1", "sigma_2"))
        block = transformer_block(attention, mlp, self.norm, self.alpha("alpha_1"),
                                  self.alpha("alpha_2"))
        return Model(self.n, self.d, (block,) * self.L)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["alpha_values"] = {name: self.alpha(name) for name in ALPHAS}
        return out


def _with_sigmas(spec: S, sigmas: dict[str, float], names: tuple[str, ...]) -> S:
    given = {k: v for k, v in sigmas.items() if k in names}
    return replace(spec, **given) if given else spec


def _pairs(text: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"{what} must be key=value pairs separated by commas, got "
                             f"{part.strip()[:40]!r}")
        if key in out:
            raise ValueError(f"{what} sets {key} twice")
        out[key] = value
    return out


def _exists(path: Path) -> bool:
    """Whether ``path`` names a file (False for names the OS refuses: too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read_toml(path: Path) -> dict[str, str]:
    if "\x00" in str(path) or len(str(path)) > 1000:
        raise ValueError("the architecture file name is not a valid path")
    try:
        if path.stat().st_size > 100_000:
            raise ValueError(f"architecture file {path} is larger than 100 kB")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"architecture file {path} is not valid TOML: {exc}") from None
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"architecture key {key} must be a number or a string, got "
                             f"{type(value).__name__}")
        out[key] = str(value)
    return out


def _int(key: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= LIMITS[key]:
        raise ValueError(f"{key} must be an integer in [1, {LIMITS[key]}], got {text[:40]!r}")
    return value


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {text[:40]!r}")
    return value


def parse_arch(text: str) -> ArchSpec:
    """SPEC (``key=value,...`` or the path of a TOML file) -> a validated ArchSpec."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ValueError(f"--arch must be at most {MAX_TEXT} characters of key=value pairs or "
                         f"a TOML file")
    is_file = text.endswith(".toml") or ("=" not in text and _exists(Path(text)))
    raw = _read_toml(Path(text)) if is_file else _pairs(text, "--arch")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown architecture key {unknown[0][:40]!r}; keys: {', '.join(KEYS)}")
    values = {**DEFAULTS, **raw}
    ints = {key: _int(key, values[key]) for key in ("L", "n", "d", "heads")}
    for key in ("d_k", "d_v", "d_ff"):
        ints[key] = _int(key, values[key]) if key in values else ints["d"]
    choices = {}
    for key, allowed in CHOICES.items():
        if values[key] not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, got "
                             f"{values[key][:40]!r}")
        choices[key] = values[key]
    for key in ALPHAS:
        try:
            alpha = parse_formula(values[key], ("L",)).value({"L": float(ints["L"])})
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if alpha < 0:
            raise ValueError(f"{key} must be >= 0, got {alpha:g} at L = {ints['L']}")
    sigmas = {key: _number(key, values[key]) for key in SIGMAS if key in values}
    spec = ArchSpec(**ints, **choices, alpha_1=values["alpha_1"], alpha_2=values["alpha_2"],
                    sigmas=sigmas)
    spec.model()  # width rules (W^O) are checked by the model
    return spec


@dataclass(frozen=True)
class InputSpec:
    """INPUT: ``kind`` gram, gaussian or rank-one; rho and the scale s (E[X X^T] =
    s d ((1-rho) I + rho J); for gaussian s = sigma_x^2)."""

    kind: str
    rho: float
    s: float

    def as_dict(self) -> dict:
        return asdict(self)


def parse_input(text: str) -> InputSpec:
    """INPUT -> InputSpec (see the module docstring)."""
    if not isinstance(text, str) or len(text) > 200:
        raise ValueError("--input must be gram:rho=R,s=S, gaussian:rho=R,sigma_x=S or rank-one")
    kind, _, rest = text.partition(":")
    kind = kind.strip()
    if kind == "rank-one":
        if rest.strip():
            raise ValueError("--input rank-one takes no parameters")
        return InputSpec("rank-one", 1.0, 1.0)
    scales = {"gram": "s", "gaussian": "sigma_x"}
    if kind not in scales:
        raise ValueError(f"--input must start with gram:, gaussian: or be rank-one, got "
                         f"{kind[:40]!r}")
    raw = _pairs(rest, "--input")
    allowed = {"rho", scales[kind]}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"--input {kind} takes {' and '.join(sorted(allowed))}, got "
                         f"{unknown[0][:40]!r}")
    values = {}
    for key in allowed:
        try:
            values[key] = float(raw.get(key, "0.5" if key == "rho" else "1"))
        except ValueError:
            raise ValueError(f"--input {key} must be a number, got {raw[key][:40]!r}") from None
    rho = check_correlation("rho", values["rho"])
    scale = check_positive(scales[kind], values[scales[kind]])
    if not 1e-6 <= scale <= 1e6:
        raise ValueError(f"{scales[kind]} must be in [1e-06, 1e+06], got {scale:g}")
    return InputSpec(kind, rho, scale if kind == "gram" else scale**2)
