"""A minimal signing hAPI client for the tests, independent of the simulator's own signing code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from lxml import etree

ACME = ("acme-key", "acme-secret")
STAFF = ("staff-key", "staff-secret")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def sign(secret: str, params: dict[str, str]) -> str:
    """api_sig as hapi-protocol.md §2.1 defines it, written out again so the tests check the simulator."""
    text = secret + "".join(k + params[k] for k in sorted(params) if k != "api_sig")
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def now() -> str:
    """An ISO-8601 timestamp with offset, as FOG sends."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse(body: bytes) -> Any:
    """Parse a response body with entities and network access disabled (Any: lxml's Optional finds are noise here)."""
    return etree.fromstring(body, _PARSER)


@dataclass
class Rsp:
    """A parsed hAPI response."""

    http: requests.Response
    root: Any

    @property
    def stat(self) -> str | None:
        """The rsp@stat attribute."""
        stat: str | None = self.root.get("stat")
        return stat

    @property
    def code(self) -> int | None:
        """The err@code attribute, if there is an <err>."""
        err = self.root.find("err")
        return None if err is None else int(err.get("code", "0"))

    @property
    def msg(self) -> str:
        """The err@msg attribute, if there is an <err>."""
        err = self.root.find("err")
        return "" if err is None else str(err.get("msg", ""))


class Hapi:
    """Signs and sends calls the way the real clients do (GET, POST form, or split)."""

    def __init__(self, base_url: str, key: str, secret: str) -> None:
        self.base_url = base_url
        self.key = key
        self.secret = secret
        self.session = requests.Session()

    def params(self, method: str, **params: Any) -> dict[str, str]:
        """Signed params for a call."""
        out = {"method": method, "key": self.key, "timestamp": now(), **{k: str(v) for k, v in params.items()}}
        out["api_sig"] = sign(self.secret, out)
        return out

    def raw(
        self, method: str, *, verb: str = "GET", path: str = "/version/1.0/", timeout: float = 5, **params: Any
    ) -> requests.Response:
        """Send a signed call; return the requests.Response."""
        signed = self.params(method, **params)
        url = self.base_url + path
        if verb == "GET":
            return self.session.get(url, params=signed, timeout=timeout)
        return self.session.post(url, data=signed, timeout=timeout)

    def call(self, method: str, **kwargs: Any) -> Rsp:
        """Send a signed call and parse the XML answer."""
        response = self.raw(method, **kwargs)
        assert response.status_code == 200
        return Rsp(response, parse(response.content))

    def ok(self, method: str, **kwargs: Any) -> Any:
        """Send a call that must succeed; return the <rsp> element."""
        rsp = self.call(method, **kwargs)
        assert rsp.stat == "ok", (rsp.code, rsp.msg)
        return rsp.root
