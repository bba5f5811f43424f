"""Precision and recall per entity class of a detector on ``tests/data/detect_corpus.jsonl``.

Run ``python tests/detect_eval.py`` (default detector, spaCy NER included) or
``python tests/detect_eval.py --model none`` (pattern-only). A prediction counts when its span and class equal
a gold span's; ``covered`` is the share of gold spans lying inside some prediction of any class (what matters
for not leaking the value).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anonymizer.findings import Finding

CORPUS = Path(__file__).parent / "data" / "detect_corpus.jsonl"


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
