"""The per-call features the rules compare: taken from the call's own arguments."""

from __future__ import annotations

from agentaudit.detector import activity
from agentaudit.detector.activity import MAX_CACHED_ARGUMENTS, arguments_parts


def test_parts_come_from_the_text_however_often_it_repeats() -> None:
    ordinary = '{"body": "b", "subject": "s", "to": "x"}'
    widened = '{"bcc": "https://drop.attacker.example/x", "body": "b", "to": "x"}'
    assert arguments_parts(ordinary) == ("body,subject,to", ())
    assert arguments_parts(ordinary) == ("body,subject,to", ())  # the cached parts
    assert arguments_parts(widened) == ("bcc,body,to", ("host:drop.attacker.example",))


def test_long_arguments_are_not_kept_by_the_cache() -> None:
    activity._arguments_cache.clear()
    short = '{"to": "' + "a" * (MAX_CACHED_ARGUMENTS - 20) + '"}'
    long = '{"to": "' + "a" * MAX_CACHED_ARGUMENTS + '", "url": "http://example.com/"}'
    assert arguments_parts(short) == ("to", ())
    assert arguments_parts(long) == ("to,url", ("host:example.com",))
    assert arguments_parts(long) == ("to,url", ("host:example.com",))  # computed again
    assert set(activity._arguments_cache) == {short}


def test_malformed_and_non_object_arguments_have_no_keys() -> None:
    assert arguments_parts('{"to": ') == ("", ())
    assert arguments_parts('["to", "x@evil.example"]') == ("", ("@evil.example",))
    assert arguments_parts("") == ("", ())
