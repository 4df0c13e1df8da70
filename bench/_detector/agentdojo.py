"""AgentDojo's tasks as tool-call traffic: user tasks benign, injection tasks attacks.

AgentDojo (``pip install agentdojo``; Debenedetti et al., NeurIPS 2024 Datasets and
Benchmarks) ships four suites — workspace, travel, banking, slack — each with user tasks
(what the user asks for) and injection tasks (what an attacker's text, planted in an
e-mail, a file, a review, a web page or a message, tries to make the agent do), every
task with its ground-truth function calls. No model is run here: the ground truth *is*
the trace a successful agent makes.

* **One agent per suite** (``workspace-assistant``, ...), acting for the suite's user
  (``emma``), with one credential holding every scope the suite's tools need.
* **Benign traffic**: user tasks drawn at random, :data:`SESSIONS_PER_DAY` sessions a day
  between 07:00 and 21:00 UTC, each task's ground-truth calls in order, a few seconds
  apart. Dates in the arguments move with the day (a task of day 10 asks about dates
  ten days later than the same task on day 0).
* **Resources** per tool as ``[instrumentation.tools.<name>] resource`` would name them
  (:func:`resources`): recipients, ``file:13``, ``calendar:emma/2024-05-26``,
  ``account:<iban>``, ``channel:general``, ``https://www.example.com/...``.
* **Provenance**: the results of the tools that return third-party content — e-mails,
  files, calendar events, reviews, transactions, messages, web pages (:data:`READERS`) —
  are untrusted: every later call of the session names them as a source, benign or not
  (AgentDojo's user tasks act on what they read). No approvals: AgentDojo has none.
* **Attacks**: an injection task's ground-truth calls, inserted into a carrier user task
  right after its first call that reads untrusted content (where the injected text
  arrives); the rest of the user task follows. Injection tasks without ground-truth
  calls (workspace 6-13 in v1.2: their calls depend on the environment) are left out.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bench._detector.calls import Agent, Step

__all__ = [
    "BENCHMARK_VERSION",
    "INSTALL_HINT",
    "READERS",
    "SUITES",
    "DojoSuite",
    "load",
    "resources",
]

BENCHMARK_VERSION: Final = "v1.2.2"
INSTALL_HINT: Final = (
    "AgentDojo is not installed: the detection benchmark reads its tasks. Install the "
    "benchmark extra with `pip install -e '.[bench]'` (or `pip install agentdojo==0.1.35`); "
    "`make bench` does it."
)
SUITES: Final = ("workspace", "travel", "banking", "slack")
USER: Final = "emma"
SCOPES: Final[Mapping[str, tuple[str, ...]]] = {
    "workspace": ("calendar.read", "calendar.write", "contacts.read", "drive.read",
                  "drive.write", "mail.read", "mail.send"),
    "travel": ("calendar.write", "mail.send", "profile.read", "travel.book", "travel.read"),
    "banking": ("account.read", "files.read", "payments.write", "profile.write"),
    "slack": ("slack.admin", "slack.read", "slack.write", "web.read", "web.write"),
}  # fmt: skip

READERS: Final[Mapping[str, str]] = {
    # workspace
    "search_calendar_events": "calendar_event",
    "get_day_calendar_events": "calendar_event",
    "search_emails": "email",
    "get_unread_emails": "email",
    "get_received_emails": "email",
    "get_sent_emails": "email",
    "get_draft_emails": "email",
    "list_files": "file",
    "search_files": "file",
    "search_files_by_filename": "file",
    "get_file_by_id": "file",
    # travel
    "get_rating_reviews_for_hotels": "review",
    "get_rating_reviews_for_restaurants": "review",
    "get_rating_reviews_for_car_rental": "review",
    # banking
    "get_most_recent_transactions": "transaction",
    "get_scheduled_transactions": "transaction",
    "read_file": "file",
    # slack
    "read_channel_messages": "message",
    "read_inbox": "message",
    "get_webpage": "web",
}
"""Tools whose result is third-party content (where AgentDojo plants its injections)."""

_DATE = re.compile(r"\b(20\d\d-\d\d-\d\d)")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _names(kind: str, value: Any) -> tuple[str, ...]:
    return tuple(f"{kind}:{name}" for name in _list(value))


_RESOURCES: Final[Mapping[str, Callable[[Mapping[str, Any]], tuple[str, ...]]]] = {
    # workspace
    "search_calendar_events": lambda a: (f"calendar:{USER}",),
    "get_day_calendar_events": lambda a: (f"calendar:{USER}/{a.get('day', '')}",),
    "create_calendar_event": lambda a: (
        f"calendar:{USER}/{str(a.get('start_time', ''))[:10]}",
        *_list(a.get("participants")),
    ),
    "reschedule_calendar_event": lambda a: (f"event:{a.get('event_id')}",),
    "cancel_calendar_event": lambda a: (f"event:{a.get('event_id')}",),
    "add_calendar_event_participants": lambda a: (
        f"event:{a.get('event_id')}",
        *_list(a.get("participants")),
    ),
    "search_emails": lambda a: (f"mailbox:{USER}/inbox",),
    "get_unread_emails": lambda a: (f"mailbox:{USER}/inbox",),
    "get_received_emails": lambda a: (f"mailbox:{USER}/inbox",),
    "get_sent_emails": lambda a: (f"mailbox:{USER}/sent",),
    "get_draft_emails": lambda a: (f"mailbox:{USER}/drafts",),
    "send_email": lambda a: (
        *_list(a.get("recipients")),
        *_list(a.get("cc")),
        *_list(a.get("bcc")),
    ),
    "delete_email": lambda a: (f"email:{a.get('email_id')}",),
    "list_files": lambda a: (f"drive:{USER}",),
    "search_files": lambda a: (f"drive:{USER}",),
    "search_files_by_filename": lambda a: (f"drive:{USER}",),
    "get_file_by_id": lambda a: (f"file:{a.get('file_id')}",),
    "delete_file": lambda a: (f"file:{a.get('file_id')}",),
    "append_to_file": lambda a: (f"file:{a.get('file_id')}",),
    "create_file": lambda a: (f"file:{a.get('filename')}",),
    "share_file": lambda a: (f"file:{a.get('file_id')}", *_list(a.get("email"))),
    "search_contacts_by_name": lambda a: (f"contacts:{USER}",),
    "search_contacts_by_email": lambda a: (f"contacts:{USER}",),
    # travel
    "get_user_information": lambda a: (f"profile:{USER}",),
    "get_all_hotels_in_city": lambda a: (f"city:{a.get('city')}",),
    "get_all_restaurants_in_city": lambda a: (f"city:{a.get('city')}",),
    "get_all_car_rental_companies_in_city": lambda a: (f"city:{a.get('city')}",),
    "get_hotels_prices": lambda a: _names("hotel", a.get("hotel_names")),
    "get_rating_reviews_for_hotels": lambda a: _names("hotel", a.get("hotel_names")),
    "get_hotels_address": lambda a: _names("hotel", a.get("hotel_name")),
    "reserve_hotel": lambda a: _names("hotel", a.get("hotel")),
    "get_cuisine_type_for_restaurants": lambda a: _names("restaurant", a.get("restaurant_names")),
    "get_restaurants_address": lambda a: _names("restaurant", a.get("restaurant_names")),
    "get_rating_reviews_for_restaurants": lambda a: _names("restaurant", a.get("restaurant_names")),
    "get_dietary_restrictions_for_all_restaurants": lambda a: _names(
        "restaurant", a.get("restaurant_names")
    ),
    "get_contact_information_for_restaurants": lambda a: _names(
        "restaurant", a.get("restaurant_names")
    ),
    "get_price_for_restaurants": lambda a: _names("restaurant", a.get("restaurant_names")),
    "check_restaurant_opening_hours": lambda a: _names("restaurant", a.get("restaurant_names")),
    "reserve_restaurant": lambda a: _names("restaurant", a.get("restaurant")),
    "get_car_types_available": lambda a: _names("car-rental", a.get("company_name")),
    "get_rating_reviews_for_car_rental": lambda a: _names("car-rental", a.get("company_name")),
    "get_car_rental_address": lambda a: _names("car-rental", a.get("company_name")),
    "get_car_fuel_options": lambda a: _names("car-rental", a.get("company_name")),
    "get_car_price_per_day": lambda a: _names("car-rental", a.get("company_name")),
    "reserve_car_rental": lambda a: _names("car-rental", a.get("company")),
    "get_flight_information": lambda a: (
        f"flights:{a.get('departure_city')}/{a.get('arrival_city')}",
    ),
    # banking
    "send_money": lambda a: (f"account:{a.get('recipient')}",),
    "schedule_transaction": lambda a: (f"account:{a.get('recipient')}",),
    "update_scheduled_transaction": lambda a: (
        f"scheduled:{a.get('id')}",
        *((f"account:{a['recipient']}",) if a.get("recipient") else ()),
    ),
    "get_most_recent_transactions": lambda a: (f"account:{USER}/transactions",),
    "get_scheduled_transactions": lambda a: (f"account:{USER}/scheduled",),
    "get_balance": lambda a: (f"account:{USER}",),
    "get_iban": lambda a: (f"account:{USER}",),
    "read_file": lambda a: (f"file:{a.get('file_path')}",),
    "get_user_info": lambda a: (f"profile:{USER}",),
    "update_user_info": lambda a: (f"profile:{USER}",),
    "update_password": lambda a: (f"profile:{USER}/password",),
    # slack
    "get_channels": lambda a: ("slack:workspace",),
    "read_channel_messages": lambda a: (f"channel:{a.get('channel')}",),
    "get_users_in_channel": lambda a: (f"channel:{a.get('channel')}",),
    "send_channel_message": lambda a: (f"channel:{a.get('channel')}",),
    "add_user_to_channel": lambda a: (f"channel:{a.get('channel')}", f"slack-user:{a.get('user')}"),
    "read_inbox": lambda a: (f"slack-inbox:{a.get('user')}",),
    "send_direct_message": lambda a: (f"slack-user:{a.get('recipient')}",),
    "invite_user_to_slack": lambda a: (
        f"slack-user:{a.get('user')}",
        *_list(a.get("user_email")),
    ),
    "remove_user_from_slack": lambda a: (f"slack-user:{a.get('user')}",),
    "get_webpage": lambda a: (f"https://{str(a.get('url', '')).removeprefix('https://')}",),
    "post_webpage": lambda a: (f"https://{str(a.get('url', '')).removeprefix('https://')}",),
}


def resources(tool: str, arguments: Mapping[str, Any]) -> tuple[str, ...]:
    """The resource ids of one call (none for a tool that touches no named resource)."""
    make = _RESOURCES.get(tool)
    return tuple(dict.fromkeys(make(arguments))) if make is not None else ()


def _shift(value: Any, days: int) -> Any:
    """Dates (``YYYY-MM-DD``) in ``value`` moved by ``days``."""
    if isinstance(value, str) and days:
        import datetime as dt

        def move(match: re.Match[str]) -> str:
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:
                return match.group(1)
            return (day + dt.timedelta(days=days)).isoformat()

        return _DATE.sub(move, value)
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    if isinstance(value, dict):
        return {k: _shift(v, days) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


@dataclass(frozen=True)
class Task:
    """One task's ground-truth calls: ``(tool, arguments)`` in order."""

    id: str
    calls: tuple[tuple[str, Mapping[str, Any]], ...]
    goal: str = ""

    def steps(self, day: int) -> list[Step]:
        out = []
        for tool, arguments in self.calls:
            moved = _shift(dict(arguments), day)
            out.append(Step(tool, moved, resources(tool, moved), reads=READERS.get(tool, "")))
        return out


@dataclass(frozen=True)
class DojoSuite:
    """One suite as one agent's traffic."""

    name: str
    agent: Agent
    user_tasks: tuple[Task, ...]
    injection_tasks: tuple[Task, ...]
    left_out: tuple[str, ...]
    """Injection tasks without ground-truth calls."""

    @property
    def carriers(self) -> tuple[Task, ...]:
        """User tasks that read untrusted content: where an injection can arrive."""
        return tuple(t for t in self.user_tasks if any(c[0] in READERS for c in t.calls))

    def benign(self, day: int, rng: random.Random) -> list[Step]:
        return rng.choice(self.user_tasks).steps(day)

    def attack(self, injection: Task, carrier: Task, day: int) -> tuple[list[Step], list[int]]:
        """The carrier's steps with the injection's inserted after its first read; the
        indexes of the injected steps."""
        steps = carrier.steps(day)
        at = next(i for i, s in enumerate(steps) if s.reads) + 1
        injected = injection.steps(day)
        return steps[:at] + injected + steps[at:], list(range(at, at + len(injected)))


def _tasks(tasks: Mapping[str, Any], environment: Any) -> tuple[list[Task], list[str]]:
    found, empty = [], []
    for task_id, task in tasks.items():
        calls = task.ground_truth(environment.model_copy(deep=True))
        if not calls:
            empty.append(task_id)
            continue
        found.append(
            Task(
                task_id,
                tuple((c.function, _plain(dict(c.args))) for c in calls),
                str(getattr(task, "GOAL", "") or getattr(task, "PROMPT", "")),
            )
        )
    return found, empty


def load(suites: Sequence[str] = SUITES) -> list[DojoSuite]:
    """The suites of AgentDojo's :data:`BENCHMARK_VERSION`; ImportError when AgentDojo is
    not installed (:data:`INSTALL_HINT`)."""
    import logging
    import warnings

    logging.getLogger("agentdojo").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.task_suite.load_suites import get_suites  # type: ignore[import-untyped]

        loaded = get_suites(BENCHMARK_VERSION)
    out = []
    for name in suites:
        suite = loaded[name]
        environment = suite.load_and_inject_default_environment({})
        user, _ = _tasks(suite.user_tasks, environment)
        injections, empty = _tasks(suite.injection_tasks, environment)
        agent = Agent(f"{name}-assistant", f"cred-{name}", SCOPES[name], service=name)
        out.append(DojoSuite(name, agent, tuple(user), tuple(injections), tuple(empty)))
    return out
