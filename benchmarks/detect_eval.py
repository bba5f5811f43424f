"""Detector evaluation: the security-analyst sets (hidden share per class, analytic terms kept), public
labelled sentences (person recall), and the template regression corpus ``tests/data/detect_corpus.jsonl``.

The security sets are written by hand: ``detect_security_dev.txt`` may be read while writing rules,
``detect_security_heldout.txt`` was written before the security recognizers and is never used to tune them.
``benchmarks/bench_detect_quality.py`` prints all of it side by side with stock Presidio; the tests of
``anonymizer.detect`` hold the detectors to floors on the same sets. The sets stay with the test data
(``tests/data/``).

Precision and recall per entity class of a detector on ``tests/data/detect_corpus.jsonl``:

Run ``python benchmarks/detect_eval.py`` (default detector, spaCy NER included) or
``python benchmarks/detect_eval.py --model none`` (pattern-only). A prediction counts when its span and class equal
a gold span's; ``covered`` is the share of gold spans lying inside some prediction of any class (what matters
for not leaking the value).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anonymizer.findings import Finding

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CORPUS = DATA / "detect_corpus.jsonl"


@dataclass
class Score:
    """Counts for one entity class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    covered: int = 0
    gold: int = 0
    fp_examples: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / gold; 1.0 when there is no gold span."""
        return self.tp / self.gold if self.gold else 1.0


def load_corpus(path: Path = CORPUS) -> list[dict[str, object]]:
    """The labelled messages."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evaluate(found: Sequence[Sequence[Finding]], corpus: Sequence[dict[str, object]]) -> dict[str, Score]:
    """Score the findings of each message against its gold spans, per entity class."""
    scores: dict[str, Score] = defaultdict(Score)
    for row, findings in zip(corpus, found, strict=True):
        text = str(row["text"])
        gold = {(int(e["start"]), int(e["end"]), str(e["entity_class"])) for e in row["entities"]}  # type: ignore[attr-defined]
        pred = {(f.start, f.end, f.entity_class) for f in findings}
        for start, end, cls in gold:
            s = scores[cls]
            s.gold += 1
            if (start, end, cls) in pred:
                s.tp += 1
            else:
                s.fn += 1
            if any(p[0] <= start and end <= p[1] for p in pred):
                s.covered += 1
        for start, end, cls in pred - gold:
            s = scores[cls]
            s.fp += 1
            if len(s.fp_examples) < 5:
                s.fp_examples.append(text[start:end])
    return dict(scores)


def report(scores: dict[str, Score]) -> str:
    """A table: class, gold, predicted right/wrong, precision, recall, covered."""
    lines = [f"{'class':<14} {'gold':>5} {'tp':>5} {'fp':>5} {'prec':>6} {'recall':>6} {'covered':>7}"]
    for cls in sorted(scores):
        s = scores[cls]
        cov = f"{s.covered / s.gold:.3f}" if s.gold else "-"
        lines.append(f"{cls:<14} {s.gold:>5} {s.tp:>5} {s.fp:>5} {s.precision:>6.3f} {s.recall:>6.3f} {cov:>7}")
    return "\n".join(lines)


def main() -> None:
    """Print the table for the detector chosen on the command line."""
    from anonymizer.detect import DEFAULT_MODEL, presidio

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="spaCy pipeline name, or 'none'")
    parser.add_argument("--examples", action="store_true", help="show a few false positives per class")
    args = parser.parse_args()
    model = None if args.model.lower() == "none" else args.model
    corpus = load_corpus()
    detector = presidio(model=model)
    scores = evaluate(detector.detect_many([str(r["text"]) for r in corpus]), corpus)
    print(f"{len(corpus)} messages, detector presidio(model={model!r})")
    print(report(scores))
    if args.examples:
        for cls, s in sorted(scores.items()):
            if s.fp_examples:
                print(f"false positives {cls}: {s.fp_examples}")


if __name__ == "__main__":
    main()


# ------------------------------------------------------------------------------- security-analyst quality

SECURITY_DEV = DATA / "detect_security_dev.txt"
SECURITY_HELDOUT = DATA / "detect_security_heldout.txt"
_MARK = re.compile(r"⟦([A-Z_]+)\|(.*?)⟧|⟪([A-Z_]+)\|(.*?)⟫")


@dataclass(frozen=True)
class Marked:
    """One labelled message: its text, the spans that must be hidden and those that must stay visible."""

    text: str
    sensitive: tuple[tuple[int, int, str], ...]
    analytic: tuple[tuple[int, int, str], ...]


def parse_marked(line: str) -> Marked:
    """A message written with ``⟦CLASS|text⟧`` (hide) and ``⟪KIND|text⟫`` (keep visible) marks."""
    out: list[str] = []
    sensitive: list[tuple[int, int, str]] = []
    analytic: list[tuple[int, int, str]] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(line):
        out.append(line[pos : m.start()])
        length += m.start() - pos
        value = m.group(2) if m.group(1) else m.group(4)
        (sensitive if m.group(1) else analytic).append((length, length + len(value), m.group(1) or m.group(3)))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(line[pos:])
    return Marked("".join(out), tuple(sensitive), tuple(analytic))


def load_marked(path: Path) -> list[Marked]:
    """The messages of a marked file (``#`` lines are comments)."""
    with path.open(encoding="utf-8") as fh:
        return [parse_marked(line.rstrip("\n")) for line in fh if line.strip() and not line.startswith("#")]


@dataclass
class Quality:
    """Hidden share per sensitive class and kept share of analytic terms, with examples of each miss."""

    gold: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hidden: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    analytic: int = 0
    kept: int = 0
    leaks: list[tuple[str, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)

    def share(self, cls: str | None = None) -> float:
        """Share of sensitive spans hidden, of one class or overall."""
        gold = self.gold[cls] if cls else sum(self.gold.values())
        hidden = self.hidden[cls] if cls else sum(self.hidden.values())
        return hidden / gold if gold else 1.0

    @property
    def kept_share(self) -> float:
        """Share of analytic terms left visible."""
        return self.kept / self.analytic if self.analytic else 1.0


def quality(found: Sequence[Sequence[Finding]], corpus: Sequence[Marked]) -> Quality:
    """Score findings: a sensitive span is hidden when findings cover all of it; an analytic term is kept when
    no finding touches it."""
    q = Quality()
    for row, findings in zip(corpus, found, strict=True):
        covered = set()
        for f in findings:
            covered.update(range(f.start, f.end))
        for start, end, cls in row.sensitive:
            q.gold[cls] += 1
            if all(i in covered for i in range(start, end)):
                q.hidden[cls] += 1
            else:
                q.leaks.append((cls, row.text[start:end]))
        for start, end, kind in row.analytic:
            q.analytic += 1
            if any(i in covered for i in range(start, end)):
                q.lost.append((kind, row.text[start:end]))
            else:
                q.kept += 1
    return q


def quality_report(q: Quality) -> str:
    """A table: class, spans, hidden share; then overall, and analytic terms kept."""
    lines = [f"{'class':<16} {'spans':>5} {'hidden':>7}"]
    for cls in sorted(q.gold):
        lines.append(f"{cls:<16} {q.gold[cls]:>5} {q.share(cls):>7.3f}")
    lines.append(f"{'overall':<16} {sum(q.gold.values()):>5} {q.share():>7.3f}")
    lines.append(f"{'analytic kept':<16} {q.analytic:>5} {q.kept_share:>7.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- public labelled data

#: Where the public labelled sentences come from: presidio-evaluator's template sentences and fake identities
#: (MIT; the FakeNameGenerator.com identities are CC BY-SA 3.0 US), read from the installed wheel
#: (``pip install --no-deps presidio-evaluator==0.3.2``) without importing it.
PUBLIC_SOURCE = "presidio-evaluator 0.3.2 (PyPI): data_generator/raw_data/templates.txt, FakeNameGenerator.com_3000.csv"

_PERSON_SLOTS = {
    "person": "{GivenName} {Surname}",
    "name": "{GivenName} {Surname}",
    "name_male": "{GivenName} {Surname}",
    "name_female": "{GivenName} {Surname}",
    "first_name": "{GivenName}",
    "first_name_male": "{GivenName}",
    "first_name_female": "{GivenName}",
    "first_name_nonbinary": "{GivenName}",
    "last_name": "{Surname}",
    "last_name_male": "{Surname}",
    "last_name_female": "{Surname}",
}
_OTHER_SLOTS = {
    "email": ("EMAIL", "{EmailAddress}"),
    "phone_number": ("PHONE", "+{TelephoneCountryCode} {TelephoneNumber}"),
    "prefix": (None, "{Title}"),
    "prefix_male": (None, "{Title}"),
    "prefix_female": (None, "{Title}"),
    "city": (None, "{City}"),
    "country": (None, "{CountryFull}"),
    "address": (None, "{StreetAddress}, {City}"),
    "street_name": (None, "{StreetAddress}"),
    "organization": (None, "{Company}"),
    "job": (None, "{Occupation}"),
    "age": (None, "{Age}"),
    "zipcode": (None, "{ZipCode}"),
    "postcode": (None, "{ZipCode}"),
    "building_number": (None, "12"),
    "secondary_address": (None, "Suite 4"),
    "state_abbr": (None, "{State}"),
    "credit_card_number": (None, "4111 1111 1111 1111"),
    "iban": (None, "GB82 WEST 1234 5698 7654 32"),
    "url": (None, "https://{Domain}"),
    "ip_address": (None, "192.0.2.44"),
    "year": (None, "1999"),
    "date_time": (None, "May 3, 2021"),
    "date_of_birth": (None, "{Birthday}"),
    "day_of_week": (None, "Tuesday"),
    "nationality": (None, "French"),
    "nation_woman": (None, "French"),
    "nation_plural": (None, "French"),
    "ssn": (None, "078-05-1120"),
    "us_driver_license": (None, "D1234567"),
}


def public_person_set(copies: int = 4, seed: int = 12) -> list[Marked] | None:
    """presidio-evaluator's template sentences filled with its fake identities, person names (and e-mail and
    phone) labelled; ``None`` when the package is not installed."""
    import csv
    import importlib.metadata
    import random

    try:
        dist = importlib.metadata.distribution("presidio-evaluator")
    except importlib.metadata.PackageNotFoundError:
        return None
    raw = Path(str(dist.locate_file("presidio_evaluator/data_generator/raw_data")))
    lines = (raw / "templates.txt").read_text(encoding="utf-8").splitlines()
    templates = [t.strip().replace("\\n", "\n") for t in lines if "{{" in t]  # the file writes newlines as \n
    with (raw / "FakeNameGenerator.com_3000.csv").open(encoding="utf-8-sig") as fh:
        people = list(csv.DictReader(fh))
    rng = random.Random(seed)
    out: list[Marked] = []
    for template in templates:
        for _ in range(copies):
            person = rng.choice(people)

            def fill(m: re.Match[str], person: dict[str, str] = person) -> str:
                slot = m.group(1)
                if slot in _PERSON_SLOTS:
                    return "⟦PERSON|" + _PERSON_SLOTS[slot].format(**person) + "⟧"
                cls, shape = _OTHER_SLOTS.get(slot, (None, slot))
                value = shape.format(**person).replace("⟦", "").replace("⟪", "")
                return f"⟦{cls}|{value}⟧" if cls else value

            out.append(parse_marked(re.sub(r"\{\{(\w+)\}\}", fill, template)))
    return out
