"""Private implementation of export redaction, shared by :mod:`anonymizer.batch` and the ``anonymizer`` command.

* :mod:`~anonymizer._export.files`: opening inputs (gzip sniffed), atomic outputs committed together, key files, the
  replacements file (plain or AES-256-GCM encrypted).
* :mod:`~anonymizer._export.formats`: input format sniffing, streaming readers and writers, the conversations inside
  a record and the exact-restore patches.
* :mod:`~anonymizer._export.originals`: every original known anywhere in an export, found in any text of it.
* :mod:`~anonymizer._export.records`: what ``redact``, ``restore`` and ``audit`` do to one record (engine calls only).
"""

from __future__ import annotations
