"""Detection quality: what each detector hides and what it wrongly hides, side by side.

Detectors: ``presidio()`` (patterns + spaCy NER), ``presidio(model=None)`` (patterns only), and stock Presidio as a
new user gets it (``AnalyzerEngine`` with its predefined recognizers on the same spaCy pipeline, all entities,
its default threshold; its e-mail/URL validation is pointed at tldextract's bundled list so nothing is fetched).

Sets (``benchmarks/detect_eval.py``, read from ``tests/data/``):

- ``heldout``: security-analyst messages written before the security recognizers and never used to tune them;
- ``dev``: security-analyst messages the rules were developed on (reported for comparison, not a claim);
- ``public``: presidio-evaluator's template sentences filled with its fake identities (person names, e-mail and
  phone labelled; ``pip install --no-deps presidio-evaluator==0.3.2``, skipped when absent).

A sensitive span counts as hidden when findings cover all of it; an analytic term (hash, CVE/ATT&CK id, event
code, process, system path, well-known SID, port, rule, vendor, product, date) is lost when any finding touches
it. Keys: ``quality_<set>_<detector>_hidden`` (overall share), ``..._min_class`` (the worst class),
``..._kept`` (analytic terms kept visible), and ``quality_public_<detector>_person`` (person-name recall).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import detect_eval

from anonymizer.detect import DEFAULT_MODEL, presidio
from anonymizer.findings import Finding

Detect = Callable[[Sequence[str]], list[list[Finding]]]


def stock_presidio() -> Detect:
    """Presidio's ``AnalyzerEngine`` with its predefined recognizers on the default spaCy pipeline."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    from anonymizer.detect.network import offline_tldextract

    tldextract.extract = offline_tldextract()  # the module-level extractor would fetch the suffix list
    engine = AnalyzerEngine(
        nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": DEFAULT_MODEL}]),
        supported_languages=["en"],
    )

    def detect(texts: Sequence[str]) -> list[list[Finding]]:
        return [
            [Finding(r.start, r.end, r.entity_type, float(r.score), 0) for r in engine.analyze(t, language="en")]
            for t in texts
        ]

    return detect


def detectors() -> dict[str, Detect]:
    """The three detectors by short name."""
    return {
        "presidio": presidio().detect_many,
        "pattern_only": presidio(model=None).detect_many,
        "stock": stock_presidio(),
    }


def run(quick: bool) -> dict[str, Any]:
    """Score every detector on every set; print the per-class tables."""
    sets: dict[str, list[detect_eval.Marked]] = {
        "heldout": detect_eval.load_marked(detect_eval.SECURITY_HELDOUT),
        "dev": detect_eval.load_marked(detect_eval.SECURITY_DEV),
    }
    public = detect_eval.public_person_set(copies=2 if quick else 4)
    if public is not None:
        sets["public"] = public
    out: dict[str, Any] = {"quality_public_source": detect_eval.PUBLIC_SOURCE if public else "not installed"}
    tables: dict[str, dict[str, detect_eval.Quality]] = {}
    for det_name, detect in detectors().items():
        for set_name, rows in sets.items():
            q = detect_eval.quality(detect([r.text for r in rows]), rows)
            tables.setdefault(set_name, {})[det_name] = q
            key = f"quality_{set_name}_{det_name}"
            out[f"{key}_hidden"] = round(q.share(), 3)
            if set_name == "public":
                out[f"{key}_person"] = round(q.share("PERSON"), 3)
                continue
            classes = [c for c in q.gold if not (det_name == "pattern_only" and c == "PERSON")]
            out[f"{key}_min_class"] = round(min(q.share(c) for c in classes), 3)
            out[f"{key}_kept"] = round(q.kept_share, 3)
    say = functools.partial(print, file=sys.stderr)  # stdout is the JSON figures (benchmarks/run.py reads it)
    for set_name, by_detector in tables.items():
        say(f"\n{set_name} ({len(sets[set_name])} messages): hidden share per class, analytic terms kept")
        classes = sorted({c for q in by_detector.values() for c in q.gold})
        say(f"{'class':<16} {'spans':>5} " + " ".join(f"{d:>13}" for d in by_detector))
        for cls in classes:
            spans = next(iter(by_detector.values())).gold[cls]
            say(f"{cls:<16} {spans:>5} " + " ".join(f"{q.share(cls):>13.3f}" for q in by_detector.values()))
        total = sum(next(iter(by_detector.values())).gold.values())
        say(f"{'overall':<16} {total:>5} " + " ".join(f"{q.share():>13.3f}" for q in by_detector.values()))
        kept = next(iter(by_detector.values())).analytic
        say(f"{'analytic kept':<16} {kept:>5} " + " ".join(f"{q.kept_share:>13.3f}" for q in by_detector.values()))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
