"""Files of an export: inputs (gzip sniffed), atomic outputs and the replacements file.

The replacements file is NDJSON: a header line, then one entry per conversation, in the order of the redacted
output. Plain header: ``{"anonymizer": "replacements", "version": 1, "cipher": null}``. Encrypted header::

    {"anonymizer": "replacements", "version": 1, "cipher": "AES-256-GCM", "kdf": "HKDF-SHA256",
     "salt": "<base64, 16 bytes>", "check": "<base64>"}

The AES-256 key is HKDF-SHA256 of the key file's bytes (surrounding whitespace stripped, at least 16 bytes)
with the header's salt and info ``anonymizer replacements v1``. Line ``i`` (the header is line 0) holds
``base64(nonce(12) || AES-GCM(entry JSON, aad="anonymizer-replacements:<i>"))``, so lines cannot be swapped;
``check`` is line 0's encryption of ``anonymizer`` and tells a wrong key at once.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import orjson

from anonymizer._install import install_hint
from anonymizer.errors import AnonymizerError, ConfigError

__all__ = [
    "AtomicOutput",
    "ExportFileError",
    "ReplacementsReader",
    "ReplacementsWriter",
    "commit_together",
    "open_input",
    "read_secret",
    "sweep_partials",
]

#: The shortest secret a key file may hold (surrounding whitespace is not counted).
MIN_KEY_BYTES = 16

_GZIP_MAGIC = b"\x1f\x8b"
_HKDF_INFO = b"anonymizer replacements v1"
_AAD = b"anonymizer-replacements:"
_CHECK = b"anonymizer"


class ExportFileError(AnonymizerError):
    """A file of an export cannot be used (unreadable, not what it claims to be, a key that does not fit it).

    The message names the file, never its content; ``code`` is the exit status the command line gives it
    (2: a usage problem such as a missing key, 4: an input/output problem).
    """

    def __init__(self, message: str, code: int = 4) -> None:
        super().__init__(message)
        self.code = code


class _Counting(io.RawIOBase):
    """A raw reader that counts the bytes it hands out (for the progress line)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``inner``: lets the format be sniffed without seeking (stdin)."""

    def __init__(self, head: bytes, inner: IO[bytes]) -> None:
        self.head = head
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Input:
    """An opened input: ``stream`` (decompressed bytes, buffered), ``head`` (its first bytes), progress figures."""

    def __init__(self, path: str, raw: IO[bytes] | None = None) -> None:
        self.path = path
        if raw is None:
            try:
                raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
            except OSError as exc:
                raise ExportFileError(f"cannot open {path}: {exc.strerror}", 4) from None
        self._raw = raw
        self.size = 0 if path == "-" and raw is sys.stdin.buffer else os.fstat(raw.fileno()).st_size
        self._counter = _Counting(raw)
        counted = io.BufferedReader(self._counter, 1 << 16)
        data: IO[bytes] = counted
        if counted.peek(2)[:2] == _GZIP_MAGIC:
            data = gzip.GzipFile(fileobj=counted, mode="rb")  # type: ignore[assignment]
        head = data.read(1 << 16)
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        self.head = head
        self.stream = io.BufferedReader(_Prefixed(head, data), 1 << 20)

    @property
    def consumed(self) -> int:
        """Bytes of the (possibly compressed) file read so far."""
        return self._counter.count

    def close(self) -> None:
        """Close the file (never stdin)."""
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


def open_input(path: str, raw: IO[bytes] | None = None) -> Input:
    """Open ``path`` (``-`` is stdin) for reading, or read ``raw`` (named ``path``); gzip is recognised by its
    magic bytes."""
    return Input(path, raw)


def sweep_partials(path: str) -> int:
    """Delete the temporary files of ``path`` left by runs that died (``kill -9``, a crash); returns how many.

    A temporary file is ``.<name>.<pid>.<random>.partial`` next to its target; it is stale when no process
    with that id is alive (files of older versions, without an id, are always stale).
    """
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(os.path.basename(path))}\.(?:(\d+)\.)?[a-z0-9_]+\.partial")
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    swept = 0
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or (match.group(1) and _alive(int(match.group(1)))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))
            swept += 1
    return swept


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


class AtomicOutput:
    """A file written to a temporary name next to its target and renamed into place by :meth:`commit`.

    ``-`` writes to stdout directly. A ``.gz`` target is gzip-compressed. :meth:`discard` removes
    the temporary file, so a failed run never leaves a file that looks complete; temporary files that runs
    killed outright left behind are swept when the next run writes the same target.
    The file gets the usual mode (``0o666`` less the umask) unless ``private`` (owner only: replacements).
    """

    def __init__(self, path: str, *, private: bool = False) -> None:
        self.path = path
        self.private = private  # keep mkstemp's owner-only mode (replacements hold the originals)
        self._tmp: str | None = None
        self._file: IO[bytes] | None = None
        if path == "-":
            self.stream: IO[bytes] = sys.stdout.buffer
            return
        directory = os.path.dirname(os.path.abspath(path))
        sweep_partials(path)
        try:
            prefix = f".{os.path.basename(path)}.{os.getpid()}."
            fd, self._tmp = tempfile.mkstemp(prefix=prefix, suffix=".partial", dir=directory)
        except OSError as exc:
            raise ExportFileError(f"cannot write {path}: {exc.strerror}", 4) from None
        self._file = os.fdopen(fd, "wb")
        self.stream = self._file
        if path.endswith(".gz"):
            self.stream = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)  # type: ignore[assignment]

    def commit(self) -> None:
        """Flush, close and move the file into place (atomic on one file system)."""
        if self._tmp is None:
            self.stream.flush()
            return
        if self.stream is not self._file:
            self.stream.close()
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        if not self.private:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(self._file.fileno(), 0o666 & ~umask)
        self._file.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def remove(self) -> None:
        """Delete the file moved into place by :meth:`commit` (undoes a commit whose partner could not follow)."""
        if self._tmp is None and self.path != "-":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def discard(self) -> None:
        """Close and delete the temporary file (no-op after :meth:`commit`)."""
        if self._tmp is None:
            return
        with contextlib.suppress(Exception):
            if self.stream is not self._file:
                self.stream.close()
        with contextlib.suppress(Exception):
            assert self._file is not None
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)
        self._tmp = None


def commit_together(outputs: list[AtomicOutput]) -> None:
    """Move files into place in the order given (replacements first); if one fails, remove those already moved.

    A reader never finds a redacted file whose replacements are missing; a failure leaves none of them.
    """
    done: list[AtomicOutput] = []
    try:
        for f in outputs:
            f.commit()
            done.append(f)
    except BaseException:
        for f in done:
            f.remove()
        for f in outputs:
            f.discard()
        raise


def read_secret(path: str, what: str = "key") -> bytes:
    """The secret in a key file: its bytes with surrounding whitespace stripped, at least 16 of them.

    Raises :class:`~anonymizer.errors.ConfigError` naming the file, never its content.
    """
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the {what} file {path} must hold at least {MIN_KEY_BYTES} bytes of secret")
    return key


def _aes_key(secret: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(secret)


def _aead(secret: bytes, salt: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - depends on the installation
        raise ExportFileError(f"encryption needs the 'cryptography' package: {install_hint('cli')}", 2) from None
    return AESGCM(_aes_key(secret, salt))


class ReplacementsWriter:
    """Writes the replacements file: a header, then one entry (JSON bytes) per :meth:`write`."""

    def __init__(self, out: IO[bytes], key: bytes | None) -> None:
        self._out = out
        self._line = 0
        self._aead: Any = None
        header: dict[str, Any] = {"anonymizer": "replacements", "version": 1, "cipher": None}
        if key is not None:
            salt = os.urandom(16)
            self._aead = _aead(key, salt)
            header.update(cipher="AES-256-GCM", kdf="HKDF-SHA256", salt=_b64(salt), check=_b64(self._seal(_CHECK)))
        out.write(orjson.dumps(header) + b"\n")

    def _seal(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        sealed: bytes = self._aead.encrypt(nonce, data, _AAD + str(self._line).encode())
        return nonce + sealed

    def write(self, entry: bytes) -> None:
        """Append one entry (the JSON of one conversation's replacements)."""
        self._line += 1
        self._out.write((base64.b64encode(self._seal(entry)) if self._aead else entry) + b"\n")


def _b64decode(value: Any, least: int) -> bytes:
    """Strict base64 of at least ``least`` bytes; ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    data = base64.b64decode(value, validate=True)
    if len(data) < least:
        raise ValueError("too short")
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ReplacementsReader:
    """Reads the entries of a replacements file in order, decrypting them when the header says so."""

    def __init__(self, path: str, key: bytes | None) -> None:
        self.path = path
        self._input = open_input(path)
        self._line = 0
        self._aead: Any = None
        first = self._input.stream.readline()
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("anonymizer") != "replacements":
            self.close()
            raise ExportFileError(f"{path} is not a replacements file written by 'anonymizer redact'", 4)
        if header.get("cipher") is not None:
            if header.get("cipher") != "AES-256-GCM" or header.get("kdf") != "HKDF-SHA256":
                self.close()
                raise ExportFileError(f"{path}: unsupported cipher", 4)
            if key is None:
                self.close()
                raise ExportFileError(f"{path} is encrypted: give its key with --decrypt-key-file", 2)
            try:
                salt, check = _b64decode(header.get("salt"), 16), _b64decode(header.get("check"), 12 + 16)
            except ValueError:
                self.close()
                damaged = f"{path}: the header is damaged (its salt or key check is not valid)"
                raise ExportFileError(damaged, 4) from None
            self._aead = _aead(key, salt)
            if self._open(check) != _CHECK:
                self.close()
                raise ExportFileError(f"cannot decrypt {path}: wrong key or damaged header", 4)
        elif key is not None:
            self.close()
            raise ExportFileError(f"{path} is not encrypted, but --decrypt-key-file was given", 2)

    def _open(self, sealed: bytes) -> bytes | None:
        from cryptography.exceptions import InvalidTag

        try:
            opened: bytes = self._aead.decrypt(sealed[:12], sealed[12:], _AAD + str(self._line).encode())
        except (InvalidTag, ValueError):
            return None
        return opened

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self._input.stream:
            if not raw.strip():
                continue
            self._line += 1
            data: bytes | None = raw
            if self._aead is not None:
                try:
                    data = self._open(base64.b64decode(raw.strip(), validate=True))
                except ValueError:
                    data = None
            if data is None:
                raise ExportFileError(f"cannot decrypt {self.path} entry {self._line}: wrong key or damaged file", 4)
            try:
                entry = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise ExportFileError(f"{self.path}: entry {self._line} is not valid JSON", 4) from None
            if not isinstance(entry, dict) or not isinstance(entry.get("replacements"), dict):
                raise ExportFileError(f"{self.path}: entry {self._line} is not a replacements entry", 4)
            yield entry

    def close(self) -> None:
        """Close the file."""
        self._input.close()
