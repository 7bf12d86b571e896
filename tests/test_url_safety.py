"""Outbound URL checks: literal addresses, well-known names, and resolution via a fake resolver."""

from __future__ import annotations

import socket

import pytest

from shared.providers.url_safety import OutboundGuard, check_outbound_url, resolve_and_check

ALWAYS_REFUSED = [
    ("http://169.254.169.254/computeMetadata/v1/", "metadata server"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata server"),
    ("http://METADATA.Google.Internal./", "metadata server"),
    ("http://metadata/computeMetadata/v1/", "metadata server"),
    ("http://[fd00:ec2::254]/", "metadata server"),
    ("http://[::ffff:169.254.169.254]/", "metadata server"),
    ("http://169.254.10.20:8080/x", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata server"),  # NAT64 of 169.254.169.254
    ("http://224.0.0.1/", "multicast"),
    # The metadata address embedded in IPv6 forms that reach it (audit, issue 6).
    ("http://[::169.254.169.254]/", "metadata server"),  # IPv4-compatible
    ("http://[::a9fe:a9fe]/", "metadata server"),  # the same, in hex
    ("http://[::ffff:0:a9fe:a9fe]/", "metadata server"),  # IPv4-translated (SIIT)
    ("http://[2002:a9fe:a9fe::1]/", "metadata server"),  # 6to4
    ("http://[64:ff9b:1::a9fe:a9fe]/", "metadata server"),  # local-use NAT64, /96 layout
    ("http://[64:ff9b:1:a9fe:a9:fea9:fe00:0]/", "metadata server"),  # local-use NAT64, /48
    # Teredo: server 65.54.227.120, client 169.254.169.254 (obfuscated: port and address
    # are stored inverted).
    ("http://[2001:0:4136:e378:8000:63bf:5601:5601]/", "metadata server"),
    ("http://[::169.254.1.1]/", "link-local"),
    # IPv4 in the shorthand forms inet_aton (and so the resolver) accepts.
    ("http://2852039166/", "metadata server"),  # one decimal number
    ("http://0xa9fea9fe/", "metadata server"),  # one hex number
    ("http://0251.0376.0251.0376/", "metadata server"),  # octal octets
    ("http://0xa9.0xfe.0xa9.0xfe/", "metadata server"),  # hex octets
    ("http://169.254.43518/", "metadata server"),  # a.b.16-bit
    ("http://169.16689662/", "metadata server"),  # a.24-bit
]

PRIVATE = [
    ("http://127.0.0.1:8080/v1", "loopback"),
    ("http://localhost/v1", "loopback"),
    ("http://api.localhost/v1", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://127.1/", "loopback"),  # shorthand a resolver accepts
    ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "private"),  # carrier-grade NAT
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),  # unique-local
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible loopback
    ("http://[::10.0.0.1]/", "private"),  # IPv4-compatible private
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ("http://[::1:2:3]/", "private"),  # the rest of ::/8 is reserved, not public
]

PUBLIC = [
    "https://huggingface.co/datasets/acme/support-evals/resolve/main/eval.jsonl",
    "https://openrouter.ai/api/v1",
    "http://8.8.8.8/",
    "https://[2001:4860:4860::8888]:8443/v1",
]


@pytest.mark.parametrize(("url", "why"), ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_and_link_local_are_always_refused(url, why, allow_private):
    with pytest.raises(ValueError, match=why):
        check_outbound_url(url, allow_private=allow_private)


@pytest.mark.parametrize(("url", "why"), PRIVATE)
def test_private_addresses_are_refused_unless_allowed(url, why):
    with pytest.raises(ValueError, match=why):
        check_outbound_url(url, allow_private=False)
    check_outbound_url(url, allow_private=True)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_urls_pass(url):
    check_outbound_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/data.jsonl", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("example.com/data.jsonl", "only http and https"),
        ("http:///data.jsonl", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_malformed_or_non_http_urls_are_refused(url, why):
    with pytest.raises(ValueError, match=why):
        check_outbound_url(url, allow_private=True)


def test_the_message_names_the_url_and_the_setting():
    with pytest.raises(ValueError, match="private") as caught:
        check_outbound_url("http://10.0.0.1/v1", allow_private=False)
    assert "'http://10.0.0.1/v1'" in str(caught.value)
    assert "PODIUM_ALLOW_PRIVATE_ENDPOINTS" in str(caught.value)


# --- resolution ------------------------------------------------------------------------------


class FakeResolver:
    """A plain function's worth of getaddrinfo: fixed answers, and a log of what was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int):
        self.calls.append((host, port))
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in self.addresses
        ]


def test_resolved_public_addresses_pass_and_are_returned():
    resolver = FakeResolver("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")

    addresses = resolve_and_check(
        "https://models.example.com/v1", allow_private=False, resolver=resolver
    )

    assert addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert resolver.calls == [("models.example.com", 443)]


def test_the_explicit_port_is_resolved():
    resolver = FakeResolver("93.184.215.14")
    resolve_and_check("http://models.example.com:8000/v1", allow_private=False, resolver=resolver)
    assert resolver.calls == [("models.example.com", 8000)]


def test_one_private_address_among_public_ones_is_refused():
    resolver = FakeResolver("93.184.215.14", "10.0.0.7")

    with pytest.raises(ValueError, match=r"models\.example\.com resolves to 10\.0\.0\.7"):
        resolve_and_check("https://models.example.com/", allow_private=False, resolver=resolver)


def test_rebinding_to_the_metadata_server_is_refused_even_when_private_is_allowed():
    resolver = FakeResolver("169.254.169.254")

    with pytest.raises(ValueError, match="metadata server"):
        resolve_and_check("https://innocent.example.com/", allow_private=True, resolver=resolver)


def test_private_resolution_is_fine_when_allowed():
    resolver = FakeResolver("10.0.0.7")
    assert resolve_and_check("http://model.internal/", allow_private=True, resolver=resolver) == (
        "10.0.0.7",
    )


def test_a_literal_address_is_not_resolved():
    resolver = FakeResolver("10.0.0.7")
    assert resolve_and_check("http://8.8.8.8/", allow_private=False, resolver=resolver) == (
        "8.8.8.8",
    )
    assert resolver.calls == []


def test_the_static_check_runs_before_resolution():
    resolver = FakeResolver("93.184.215.14")
    with pytest.raises(ValueError, match="metadata server"):
        resolve_and_check("http://metadata.google.internal/", allow_private=True, resolver=resolver)
    assert resolver.calls == []


def test_no_addresses_is_refused():
    with pytest.raises(ValueError, match="resolves to no address"):
        resolve_and_check("https://void.example.com/", allow_private=False, resolver=FakeResolver())


def test_a_resolution_failure_is_the_resolvers_own_error():
    def nxdomain(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(socket.gaierror):
        resolve_and_check("https://nope.example.com/", allow_private=False, resolver=nxdomain)


def test_outbound_guard_applies_the_policy():
    OutboundGuard(allow_private=True, resolver=FakeResolver("10.0.0.7"))("http://m.internal/")
    with pytest.raises(ValueError, match="private"):
        OutboundGuard(allow_private=False, resolver=FakeResolver("10.0.0.7"))("http://m.internal/")
