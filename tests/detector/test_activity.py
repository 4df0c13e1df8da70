"""The per-call features the rules compare: taken from the call's own arguments."""

from __future__ import annotations

from agentaudit.detector import activity
from agentaudit.detector.activity import MAX_CACHED_ARGUMENTS, NS, arguments_parts
from tests.detector._data import call


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


def _activity() -> activity.Activity:
    return activity.Activity(
        window_seconds=300,
        sessions=100,
        session_resources=10_000,
        live_resources=10_000,
        window_resources=10_000,
    )


def test_the_window_counts_only_calls_within_a_window_when_time_goes_back() -> None:
    # Batches of two chains read one chain after the other: day 5, then day 1 again.
    day5, day1 = 5 * activity.DAY_NS, activity.DAY_NS
    live = _activity()
    for i in range(40):
        live.observe(call(ts=day5 + i * NS, session_id=f"a{i}", resource_ids=(f"r:{i}",)), day5)
    back = live.observe(call(ts=day1, session_id="b", resource_ids=("r:x",)), day1)
    assert (back.window_count, back.window_first_ns) == (1, day1)
    # A small step back (a call exported late) stays in the window, and dates it.
    earlier = day1 - 10 * NS
    late = live.observe(call(ts=earlier, session_id="b", resource_ids=("r:y",)), earlier)
    assert (late.window_count, late.window_first_ns) == (2, earlier)
