"""Private implementation of the ``anonymizer`` command line (see :mod:`anonymizer.cli`).

* :mod:`~anonymizer._cli.files`: opening inputs (gzip sniffed), atomic outputs, key files, the replacements file
  (plain or AES-256-GCM encrypted).
* :mod:`~anonymizer._cli.formats`: input format sniffing, streaming readers and writers, the conversations inside
  a record and the exact-restore patches.
* :mod:`~anonymizer._cli.records`: what ``redact``, ``restore`` and ``audit`` do to one record (engine calls only).
* :mod:`~anonymizer._cli.workers`: an ordered, bounded process pool, the progress line and the run summary.
"""

from __future__ import annotations
