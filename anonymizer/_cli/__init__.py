"""Private implementation of the ``anonymizer`` command line (see :mod:`anonymizer.cli`).

* :mod:`~anonymizer._cli.options`: what every sub-command shares (exit codes, key and policy files, token names).
* :mod:`~anonymizer._cli.workers`: an ordered, bounded process pool, the progress line and the run summary.

The record work itself is :mod:`anonymizer.batch` and :mod:`anonymizer._export`.
"""

from __future__ import annotations
