"""Which address a login counts against: the peer, or behind a trusted proxy the right-most
address of X-Forwarded-For that the trusted proxies did not add."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from starface_connector.api.client import client_address
from starface_connector.config import ConfigurationError, Settings, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.1 ::1")


def request(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "headers": headers,
        "client": None if peer is None else (peer, 5000),
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", (), "203.0.113.9"),
        ("203.0.113.9", ("198.51.100.1",), "203.0.113.9"),  # not a proxy: header ignored
        ("10.1.2.3", (), "10.1.2.3"),  # a proxy that forwards nothing: the proxy
        ("10.1.2.3", ("198.51.100.1",), "198.51.100.1"),
        ("10.1.2.3", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),  # the client's own is left
        ("10.1.2.3", ("198.51.100.1, 10.9.9.9, 192.168.1.1",), "198.51.100.1"),  # proxy chain
        ("10.1.2.3", ("6.6.6.6", "198.51.100.1"), "198.51.100.1"),  # two header lines
        ("::1", ("2001:db8::1",), "2001:db8::1"),
        ("::1", ("2001:DB8:0::1",), "2001:db8::1"),  # one spelling per address
        ("10.1.2.3", ("10.2.2.2, 192.168.1.1",), "10.1.2.3"),  # all trusted: the peer
        ("10.1.2.3", ("nonsense",), "10.1.2.3"),  # a broken header: the proxy itself
        ("10.1.2.3", (" , ",), "10.1.2.3"),
        (None, ("198.51.100.1",), None),
    ],
)
def test_the_client_address(peer: str | None, forwarded: tuple[str, ...], expected: str) -> None:
    assert client_address(request(peer, *forwarded), PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address(request("10.1.2.3", "198.51.100.1"), []) == "10.1.2.3"


def test_trusted_proxies_from_the_environment_and_a_bad_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STARFACE_CONNECTOR_TRUSTED_PROXY", "10.0.0.0/8,::1")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ConfigurationError, match=r"'10\.0\.0\.1/8' is not an IP address"):
        parse_networks(["10.0.0.1/8"])
