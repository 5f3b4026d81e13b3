"""Token counts that match the provider: fcc's estimate re-weighted per provider/model from reported usage.

fcc estimates a request's input tokens from its size, split into prose (text, thinking,
tool output) and structured text (tool schemas, tool-call JSON), because tokenizers
pack the two differently (fcc.core.local_answers.estimate_parts). Every answered
request then tells us what the provider really counted (input + cache read + cache
creation). Per provider/model slug fcc fits  provider ≈ w_prose·prose + w_struct·structured
(+ images as estimated) by ridge-regularised least squares over the recent requests
(older ones decay by DECAY each; the prior is w = 1, i.e. the raw estimate), kept across
restarts in a small JSON file, and applies it to count_tokens answers and the
context-window check, biased up by BIAS so Claude Code compacts a little early rather
than overflowing.

The file: $FCC_STATE_DIR/calibration.json, else $XDG_CACHE_HOME/fcc/, else
~/.cache/fcc/ (a cache: deleting it only costs a few requests of accuracy). It is
written atomically (temporary file + rename), at most every SAVE_EVERY seconds and
when fcc stops.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fcc.config import Config
from fcc.core.local_answers import estimate_parts
from fcc.router import RouteError, route_model

log = logging.getLogger("fcc")

Parts = tuple[float, float, int]  # (prose tokens, structured tokens, image tokens) as estimated
BIAS = 0.03
DECAY = 0.85
PRIOR = 0.1  # weight of the prior (w = 1) against observations, each of which weighs 1
MIN_ESTIMATE = 200  # tiny requests are mostly fixed template overhead: no signal about the rates
RATIO_BOUNDS = (0.25, 4.0)  # outside: a provider that reports nonsense, not a tokenizer difference
SAVE_EVERY = 5.0
MAX_ENTRIES = 500
FILE_NAME = "calibration.json"


@dataclass
class Fit:
    """Decayed normal equations of one slug's fit  provider ≈ w_p·prose + w_s·structured + c
    (c: the provider's fixed per-request template cost), each observation weighing 1."""

    xx: list[float] = field(default_factory=lambda: [0.0] * 9)  # 3x3, row-major
    xy: list[float] = field(default_factory=lambda: [0.0] * 3)
    n: int = 0

    def add(self, prose: float, structured: float, actual: float) -> None:
        total = prose + structured
        x = (prose / total, structured / total, 1.0 / total)
        y = actual / total
        self.xx = [DECAY * v for v in self.xx]
        self.xy = [DECAY * v for v in self.xy]
        for r in range(3):
            self.xy[r] += x[r] * y
            for c in range(3):
                self.xx[3 * r + c] += x[r] * x[c]
        self.n += 1

    def weights(self) -> tuple[float, float, float]:
        """(w_prose, w_structured, constant), ridge-pulled towards the raw estimate (1, 1, 0)."""
        prior = (1.0, 1.0, 0.0)
        # The constant's feature is 1/total (tiny): scale its prior so it is not pinned at 0.
        strength = (PRIOR, PRIOR, PRIOR * 1e-9)
        a = [[self.xx[3 * r + c] + (strength[r] if r == c else 0.0) for c in range(3)] for r in range(3)]
        b = [self.xy[r] + strength[r] * prior[r] for r in range(3)]
        w = _solve3(a, b)
        low, high = RATIO_BOUNDS
        return min(high, max(low, w[0])), min(high, max(low, w[1])), max(-2000.0, min(2000.0, w[2]))


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is symmetric positive definite)."""
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, 3):
            factor = m[r][col] / m[col][col]
            for c in range(col, 4):
                m[r][c] -= factor * m[col][c]
    out = [0.0, 0.0, 0.0]
    for r in (2, 1, 0):
        out[r] = (m[r][3] - sum(m[r][c] * out[c] for c in range(r + 1, 3))) / m[r][r]
    return out


def default_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("FCC_STATE_DIR"):
        return Path(env["FCC_STATE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "fcc"
    return Path.home() / ".cache" / "fcc"


class Calibration:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.fits: dict[str, Fit] = {}
        self._dirty = False
        self._saved_at = 0.0
        if path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.info("fcc: calibration file %s unreadable (%s); starting afresh", self.path, exc)
            return
        entries = raw.get("fits") if isinstance(raw, dict) and raw.get("version") == 3 else None
        for slug, entry in (entries or {}).items():
            try:
                fit = Fit([float(v) for v in entry["xx"]], [float(v) for v in entry["xy"]], int(entry["n"]))
            except (KeyError, TypeError, ValueError):
                continue
            if len(fit.xx) == 9 and len(fit.xy) == 3 and all(abs(v) < 1e6 for v in (*fit.xx, *fit.xy)):
                self.fits[str(slug)] = fit

    def weights(self, slug: str | None) -> tuple[float, float, float]:
        fit = self.fits.get(slug) if slug is not None else None
        return fit.weights() if fit is not None else (1.0, 1.0, 0.0)

    def calibrated(self, slug: str | None, parts: Parts, whole_request: bool = True) -> int:
        """The provider's count for a request of these parts: learned weights, then BIAS.

        `whole_request=False` leaves out the provider's fixed per-request cost: count_tokens
        pieces (Claude Code's /context sends 25, one per section) are summed by the client,
        and that cost is paid once per conversation, not once per section."""
        prose, structured, images = parts
        if slug is None or slug not in self.fits:
            return max(1, int(prose + structured) + images)
        wp, ws, constant = self.weights(slug)
        fixed = constant if whole_request else 0.0
        return max(1, round((wp * prose + ws * structured + fixed) * (1 + BIAS)) + images)

    def observe(self, slug: str, parts: Parts, actual: int) -> bool:
        """Learn from one answered request; True when it was used."""
        prose, structured, images = parts
        text = actual - images
        if prose + structured < MIN_ESTIMATE or text <= 0:
            return False
        if not RATIO_BOUNDS[0] <= text / (prose + structured) <= RATIO_BOUNDS[1]:
            return False
        self.fits.setdefault(slug, Fit()).add(prose, structured, text)
        if len(self.fits) > MAX_ENTRIES:
            self.fits.pop(next(iter(self.fits)))
        self._dirty = True
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self.save()
        return True

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        fits = {slug: {"xx": [round(v, 6) for v in f.xx], "xy": [round(v, 6) for v in f.xy], "n": f.n,
                       "weights": [round(w, 4) for w in f.weights()]} for slug, f in self.fits.items()}  # fmt: skip
        body = {"version": 3, "fits": fits}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".calibration.", dir=self.path.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(body, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half of one
        except OSError as exc:
            log.info("fcc: calibration not saved to %s (%s)", self.path, exc)
            return
        self._dirty = False
        self._saved_at = time.monotonic()


_CURRENT = Calibration(None)


def current() -> Calibration:
    return _CURRENT


def use(directory: Path | None) -> Calibration:
    """Load (or start) the calibration kept in `directory`; None keeps it in memory only."""
    global _CURRENT
    path = directory / FILE_NAME if directory is not None else None
    if _CURRENT.path != path:
        _CURRENT.save()
        _CURRENT = Calibration(path)
    return _CURRENT


def provider_input(usage: dict) -> int:
    """What the provider counted as input: Anthropic splits cached tokens out, so add them back."""
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))


def slug_for(model: str, config: Config) -> str | None:
    """The provider/model a request for `model` would be sent to first (None: not routed)."""
    try:
        route = route_model(model, config)
    except RouteError:
        return None
    return route.primary.slug if route is not None else None


def count_tokens(request: dict, config: Config) -> int:
    """count_tokens' answer: the estimate, calibrated for the model the request names."""
    return current().calibrated(slug_for(str(request.get("model") or ""), config), estimate_parts(request), whole_request=False)
