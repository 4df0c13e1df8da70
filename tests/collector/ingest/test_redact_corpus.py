"""A generated corpus of real-format fake secrets and personal data for redaction tests.

Every generator produces a value in the exact format the real issuer uses (prefixes,
lengths, alphabets, checksums), with random content, so no real credential is ever in
the repository. :func:`samples` returns ``(rule, text, secret)`` triples: ``text`` is how
the value appears in telemetry and ``secret`` is the part that must not survive
redaction. :func:`spellings` writes each text the other ways it reaches a collector
(glued to letters, right after a ``%20``, percent-encoded), and :func:`leaks` finds a
secret in a stored string in any of those spellings. The tests at the bottom check the
generators themselves (a Luhn-valid card really is valid, an IBAN checksum really
holds, every spelling decodes back to its secret), so a broken generator cannot make a
redaction test pass vacuously.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, unquote

from agentaudit.collector.ingest.redaction._validators import valid_card, valid_iban, valid_ssn
from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.schema import attributes as A

__all__ = [
    "BENIGN_WORDS",
    "BOUNDARY_RULES",
    "PLACES",
    "card_number",
    "iban",
    "jwt",
    "leaked",
    "leaks",
    "luhn_invalid_card",
    "needles",
    "pem_private_key",
    "samples",
    "span_strings",
    "span_with",
    "spellings",
    "ssn",
    "strings_in",
]

BOUNDARY_RULES = frozenset(
    {"authorization_header", "credit_card", "iban", "us_ssn", "phone_number"}
)
"""Rules that need a word boundary before their match, by design (docs/redaction.md):
digit runs without a distinctive prefix (a card number inside a hex id is an id), and
the ``Authorization`` header name. Every other rule finds its secret glued to letters."""

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"

BENIGN_WORDS = tuple(
    [
        "calendar",
        "meeting",
        "invite",
        "schedule",
        "review",
        "quarterly",
        "report",
        "draft",
        "summary",
        "customer",
        "ticket",
        "project",
        "status",
        "update",
        "deploy",
        "service",
        "region",
        "cluster",
        "latency",
        "budget",
        "plan",
        "please",
        "confirm",
        "the",
        "agenda",
        "for",
        "tomorrow",
        "and",
        "attach",
        "latest",
        "figures",
        "from",
        "finance",
        "keys",
        "tokens",
        "secrets",
        "passwords",
        "were",
        "rotated",
        "yesterday",
        "according",
        "to",
        "policy",
    ]
)
"""Benign vocabulary: no digits, no @, and secret-ish words never followed by = or :."""


def _pick(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    """A Luhn-valid number with a real issuer prefix (Visa, Mastercard, Amex, Discover)."""
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    body = prefix + _pick(rng, string.digits, length - len(prefix) - 1)
    return body + _luhn_check_digit(body)


def luhn_invalid_card(rng: random.Random) -> str:
    """A card-shaped number whose check digit is wrong."""
    valid = card_number(rng)
    return valid[:-1] + str((int(valid[-1]) + rng.randint(1, 9)) % 10)


def iban(rng: random.Random) -> str:
    """A German or British IBAN with a correct ISO 13616 mod-97 checksum."""
    country, bban = rng.choice(
        [("DE", _pick(rng, string.digits, 18)), ("GB", "NWBK" + _pick(rng, string.digits, 14))]
    )
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": _pick(rng, ALNUM, 10), "iat": rng.randint(1, 2**31)}
    payload = _b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def pem_private_key(rng: random.Random, case: Callable[[str], str] = str.upper) -> str:
    """A PEM private key block; ``case`` spells its BEGIN/END lines (str.lower, ...)."""
    body = base64.b64encode(rng.randbytes(300)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    return "\n".join(
        [
            case(f"-----BEGIN {kind}PRIVATE KEY-----"),
            *lines,
            case(f"-----END {kind}PRIVATE KEY-----"),
        ]
    )


def samples(rng: random.Random) -> list[tuple[str, str, str]]:
    """``(rule, text, secret)`` for every built-in content rule, with fresh random values."""
    out: list[tuple[str, str, str]] = []

    def add(rule: str, secret: str, text: str | None = None) -> None:
        out.append((rule, text if text is not None else secret, secret))

    add("aws_access_key_id", rng.choice(["AKIA", "ASIA"]) + _pick(rng, UPPER_ALNUM, 16))
    aws_secret = _pick(rng, B64, 40)
    add("aws_secret_access_key", aws_secret, f"aws_secret_access_key = {aws_secret}")
    add("gcp_api_key", "AIza" + _pick(rng, B64URL, 35))
    storage = _pick(rng, ALNUM + "+/", 86) + "=="
    add(
        "azure_storage_key",
        storage,
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={storage};"
        "EndpointSuffix=core.windows.net",
    )
    sig = _pick(rng, ALNUM, 43) + "%3D"
    add(
        "azure_sas_signature",
        sig,
        f"https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&sig={sig}",
    )
    add("azure_client_secret", _pick(rng, ALNUM, 3) + "8Q~" + _pick(rng, ALNUM + "_~.-", 34))
    add("github_token", rng.choice(["ghp_", "gho_", "ghs_"]) + _pick(rng, ALNUM, 36))
    add("github_token", "github_pat_" + _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59))
    add("gitlab_token", "glpat-" + _pick(rng, ALNUM + "_-", 20))
    slack = f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-"
    add("slack_token", slack + _pick(rng, ALNUM, 24))
    add(
        "slack_webhook",
        "https://hooks.slack.com/services/T"
        + _pick(rng, UPPER_ALNUM, 8)
        + "/B"
        + _pick(rng, UPPER_ALNUM, 8)
        + "/"
        + _pick(rng, ALNUM, 24),
    )
    add("stripe_key", rng.choice(["sk_live_", "rk_test_"]) + _pick(rng, ALNUM, 24))
    add("anthropic_api_key", "sk-ant-api03-" + _pick(rng, B64URL, 93) + "AA")
    add("openai_api_key", "sk-proj-" + _pick(rng, B64URL, 120))
    add("openai_api_key", "sk-" + _pick(rng, ALNUM, 20) + "T3BlbkFJ" + _pick(rng, ALNUM, 20))
    add("jwt", jwt(rng))
    add("pem_private_key", pem_private_key(rng))
    add("pem_private_key", pem_private_key(rng, str.lower))
    add("pem_private_key", pem_private_key(rng, str.title))
    basic = base64.b64encode(f"svc:{_pick(rng, ALNUM, 12)}".encode()).decode()
    add("authorization_header", basic, f"Authorization: Basic {basic}")
    bearer = _pick(rng, ALNUM, 40)
    add("bearer_token", bearer, f"sent with bearer {bearer} attached")
    password = _pick(rng, ALNUM, 14)
    add("url_password", password, f"postgres://admin:{password}@db.internal:5432/app")
    assigned = _pick(rng, ALNUM, 12)
    add("secret_assignment", assigned, f"login with password={assigned} now")
    user = _pick(rng, string.ascii_lowercase, 8)
    add("email", f"{user}.{_pick(rng, string.ascii_lowercase, 5)}@example-corp.com")
    card = card_number(rng)
    add("credit_card", card)
    add("credit_card", " ".join(card[i : i + 4] for i in range(0, len(card), 4)))
    account = iban(rng)
    add("iban", account)
    add("us_ssn", ssn(rng))
    add("phone_number", f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}")
    add("phone_number", f"(415) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}")
    return out


def spellings(rule: str, text: str) -> list[tuple[str, str]]:
    """``(name, variant)``: the ways ``text`` reaches a collector besides verbatim.

    ``glued`` (letters on both sides, for rules not in BOUNDARY_RULES), ``after %20``
    (the first character glued to an escape), ``encoded`` (every reserved character
    percent-encoded: ``@`` as ``%40``, spaces as ``%20``, newlines as ``%0A``).
    """
    out = [("plain", text), ("after %20", f"and%20{text}"), ("encoded", quote(text, safe=""))]
    if rule not in BOUNDARY_RULES:
        out.append(("glued", f"zz{text}zz"))
    return out


_PLAIN_RUN = re.compile(r"[A-Za-z0-9+/=._@:%-]{16,}")


def needles(secret: str) -> list[bytes]:
    """Byte strings whose presence on disk means ``secret`` leaked, however it was stored.

    The secret itself and its percent-encoded form, plus its runs of 16+ characters no
    encoder escapes: a multi-line PEM block stored as JSON has ``\\n`` where the secret
    has a newline, so only its base64 lines can be found verbatim.
    """
    found = {secret, quote(secret, safe=""), *_PLAIN_RUN.findall(secret)}
    return sorted(n.encode() for n in found)


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a value: dict keys and values, list items, JSON held in strings."""
    if isinstance(value, str):
        yield value
        if value.lstrip()[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError:
                return
            yield from strings_in(parsed)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, bytes):
        yield value.decode("latin-1")


PLACES = (
    "span name",
    "status message",
    "trace state",
    "scope name",
    "scope version",
    "attribute key",
    "attribute value",
    "resource key",
    "resource value",
    "event name",
    "event key",
    "event value",
    "link trace state",
    "link key",
    "link value",
    "array item",
    "kvlist key",
    "kvlist value",
    "json key",
    "json value",
)
"""Every place a SpanRecord carries a string (ids are hex, kind and status are enums)."""
KEPT = "value-under-the-key"


def span_with(text: str, places: tuple[str, ...] = PLACES) -> SpanRecord:
    """A span with ``text`` in each of ``places``; one event and one link, always.

    Keys hold ``text`` verbatim with :data:`KEPT` as their value; the ``json`` places
    are in ``gen_ai.tool.call.arguments``.
    """
    event, link = SpanEvent(1, "log"), SpanLink("c" * 32, "d" * 16)
    record = SpanRecord("a" * 32, "b" * 16, "execute_tool t", 1, 2, events=[event], links=[link])
    arguments: dict[str, Any] = {}
    kv: dict[str, Any] = {}
    setters: dict[str, Callable[[], None]] = {
        "span name": lambda: setattr(record, "name", text),
        "status message": lambda: setattr(record, "status_message", text),
        "trace state": lambda: setattr(record, "trace_state", text),
        "scope name": lambda: setattr(record, "scope_name", text),
        "scope version": lambda: setattr(record, "scope_version", text),
        "attribute key": lambda: record.attributes.__setitem__(text, KEPT),
        "attribute value": lambda: record.attributes.__setitem__("note", text),
        "resource key": lambda: record.resource_attributes.__setitem__(text, KEPT),
        "resource value": lambda: record.resource_attributes.__setitem__("host.note", text),
        "event name": lambda: setattr(event, "name", text),
        "event key": lambda: event.attributes.__setitem__(text, KEPT),
        "event value": lambda: event.attributes.__setitem__("exception.message", text),
        "link trace state": lambda: setattr(link, "trace_state", text),
        "link key": lambda: link.attributes.__setitem__(text, KEPT),
        "link value": lambda: link.attributes.__setitem__("link.note", text),
        "array item": lambda: record.attributes.__setitem__("refs", ["ok", text]),
        "kvlist key": lambda: kv.__setitem__(text, KEPT),
        "kvlist value": lambda: kv.__setitem__("inner", text),
        "json key": lambda: arguments.__setitem__(text, KEPT),
        "json value": lambda: arguments.__setitem__("body", text),
    }
    for where in places:
        setters[where]()
    if kv:
        record.attributes["kv"] = kv
    if arguments:
        record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] = json.dumps(arguments)
    return record


def span_strings(record: SpanRecord) -> list[Any]:
    """Every value of a span that is stored: fields, attributes, events, links."""
    return [
        record.name,
        record.status_message,
        record.trace_state,
        record.scope_name,
        record.scope_version,
        record.attributes,
        record.resource_attributes,
        [(e.name, e.attributes) for e in record.events],
        [(k.trace_state, k.attributes) for k in record.links],
    ]


def leaked(secrets: Iterable[str], value: Any) -> list[str]:
    """The secrets found in ``value`` as :func:`leaks` finds them (one pass over ``value``)."""
    found = list(strings_in(value))
    text = "\0".join([*found, *map(unquote, found)])
    return [s for s in secrets if s in text or unquote(s) in text]


def leaks(secret: str, value: Any) -> list[str]:
    """The strings in ``value`` that hold ``secret``, verbatim or once percent-decoded."""
    forms = {secret, unquote(secret)}
    return [s for s in strings_in(value) if any(f in s or f in unquote(s) for f in forms)]


# --- the generators are right --------------------------------------------------------


def test_generated_cards_are_luhn_valid_and_the_invalid_ones_are_not() -> None:
    rng = random.Random(1)
    for _ in range(200):
        assert valid_card(card_number(rng).encode())
        assert not valid_card(luhn_invalid_card(rng).encode())


def test_generated_ibans_and_ssns_pass_their_checks() -> None:
    rng = random.Random(2)
    for _ in range(200):
        assert valid_iban(iban(rng).encode())
        assert valid_ssn(ssn(rng).encode())


def test_known_public_examples_validate() -> None:
    # Published test values: the Visa test card, the ECBS example IBANs.
    assert valid_card(b"4111 1111 1111 1111")
    assert not valid_card(b"4111 1111 1111 1112")
    assert valid_iban(b"DE89 3704 0044 0532 0130 00")
    assert valid_iban(b"GB82WEST12345698765432")
    assert not valid_iban(b"GB82WEST12345698765433")
    assert not valid_ssn(b"000-12-3456")
    assert not valid_ssn(b"666-12-3456")
    assert not valid_ssn(b"912-12-3456")
    assert not valid_ssn(b"123-00-3456")


def test_every_sample_contains_its_secret() -> None:
    for rule, text, secret in samples(random.Random(3)):
        assert secret in text, rule


def test_every_spelling_decodes_back_to_its_secret() -> None:
    for rule, text, secret in samples(random.Random(4)):
        for name, variant in spellings(rule, text):
            assert leaks(secret, {"k": [variant]}), (rule, name)


def test_pem_samples_spell_their_headers_in_several_cases() -> None:
    blocks = [t for r, t, _ in samples(random.Random(5)) if r == "pem_private_key"]
    assert [b.split("-----")[1].split()[0] for b in blocks] == ["BEGIN", "begin", "Begin"]


def test_leaks_finds_secrets_inside_json_and_keys() -> None:
    block = pem_private_key(random.Random(6))
    assert leaks(block, json.dumps({"a": [block]}))  # escaped newlines, still found
    assert leaks("AKIAIOSFODNN7EXAMPLE", {"x AKIAIOSFODNN7EXAMPLE": 1})
    assert not leaks("AKIAIOSFODNN7EXAMPLE", {"x": "[REDACTED:aws_access_key_id]"})


def test_span_with_reaches_every_place() -> None:
    record = span_with("AKIAIOSFODNN7EXAMPLE")
    found = [s for s in strings_in(span_strings(record)) if "AKIAIOSFODNN7EXAMPLE" in s]
    # Each place once; the JSON string is found as a whole and as its key and value.
    assert len(found) == len(PLACES) + 1
