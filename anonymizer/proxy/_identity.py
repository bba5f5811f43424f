"""Who is asking, and which conversation: the two halves of a store key. Credentials are never kept."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie

__all__ = ["ANONYMOUS", "KIBANA_SESSION_COOKIE", "conversation_key", "short_hash", "user_identity"]

#: The identity of requests that carry neither an ``Authorization`` header nor a cookie.
ANONYMOUS = "anonymous"
#: Kibana's session cookie (``xpack.security.cookieName``); when present, it alone identifies a browser user.
KIBANA_SESSION_COOKIE = "sid"


def user_identity(headers: Mapping[str, str], *, key: bytes | None = None) -> str:
    """A hex SHA-256 (HMAC-SHA256 under ``key``) of the caller's credential: the ``user`` half of a store key.

    The credential is the ``Authorization`` header, else Kibana's ``sid`` session cookie, else the whole
    ``Cookie`` header. A credential with little entropy (HTTP Basic) can be guessed back from a plain hash;
    give a ``key`` (kept out of the store) to make that impossible. ``headers`` is looked up in lower case.

    >>> user_identity({"authorization": "ApiKey abc"}) == user_identity({"authorization": "ApiKey abc"})
    True
    >>> user_identity({"authorization": "ApiKey abc"}) != user_identity({"authorization": "ApiKey xyz"})
    True
    """
    material = _credential(headers)
    if material is None:
        return ANONYMOUS
    if key is not None:
        return hmac.new(key, material, hashlib.sha256).hexdigest()
    return hashlib.sha256(material).hexdigest()


def _credential(headers: Mapping[str, str]) -> bytes | None:
    auth = headers.get("authorization")
    if auth:
        return b"authorization\0" + auth.encode("utf-8", "surrogateescape")
    cookie = headers.get("cookie")
    if not cookie:
        return None
    try:
        jar = SimpleCookie()
        jar.load(cookie)
        sid = jar.get(KIBANA_SESSION_COOKIE)
    except CookieError:
        sid = None
    if sid is not None and sid.value:
        return b"sid\0" + sid.value.encode("utf-8", "surrogateescape")
    return b"cookie\0" + cookie.encode("utf-8", "surrogateescape")


def conversation_key(family: str, space: str | None, conversation_id: str) -> str:
    """The ``conversation`` half of a store key: ``<family>/<space>/<id>`` (space ``default`` when absent).

    Security conversations (chat/complete and the conversation routes) share the family ``security``; the
    Observability assistant's are ``observability``. Ids chosen by clients may repeat across spaces.

    >>> conversation_key("security", None, "abc123")
    'security/default/abc123'
    """
    return f"{family}/{space or 'default'}/{conversation_id}"


def short_hash(text: str) -> str:
    """A 16-hex-digit SHA-256 prefix, to name a conversation or user in logs without revealing it."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
