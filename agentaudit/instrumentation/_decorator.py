"""``audited_tool``: the decorator for plain sync and async functions.

The argument binding is precomputed from the signature at decoration time (no
``inspect.signature().bind`` per call); ``self``/``cls`` are not captured. The function's
own exceptions pass through unchanged, and its return value is returned untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast, overload

from agentaudit.instrumentation._runtime import ResourceSpec, ToolSpec
from agentaudit.instrumentation._settings import TRUST_LEVELS

__all__ = ["audited_tool"]

F = TypeVar("F", bound=Callable[..., Any])


class _Binder:
    """Maps ``(args, kwargs)`` to a dict of argument name -> value."""

    __slots__ = ("positional", "skip_first", "var_positional")

    def __init__(self, func: Callable[..., Any]) -> None:
        try:
            parameters = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        positional = [
            p.name
            for p in parameters
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        self.skip_first = bool(positional) and positional[0] in ("self", "cls")
        self.positional = tuple(positional[1:] if self.skip_first else positional)
        self.var_positional = next(
            (p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), None
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.skip_first:
            args = args[1:]
        names = self.positional
        if len(args) <= len(names):
            bound = dict(zip(names, args, strict=False))
        else:
            bound = dict(zip(names, args[: len(names)], strict=True))
            bound[self.var_positional or "args"] = list(args[len(names) :])
        if kwargs:
            bound.update(kwargs)
        return bound


def _wrap(func: F, spec: ToolSpec) -> F:
    binder = _Binder(func)
    begin = spec.begin
    bind = binder.bind

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(bind(args, kwargs))
            if call is None:
                return await func(*args, **kwargs)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                call.error(exc)
                raise
            call.ok(result)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(bind(args, kwargs))
            if call is None:
                return func(*args, **kwargs)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                call.error(exc)
                raise
            call.ok(result)
            return result

        wrapper = sync_wrapper
    wrapper.__agentaudit_tool__ = spec  # type: ignore[attr-defined]
    return cast("F", wrapper)


@overload
def audited_tool(func: F, /) -> F: ...


@overload
def audited_tool(
    *,
    name: str | None = None,
    resource: ResourceSpec = None,
    scopes: Iterable[str] = (),
    trust: str | None = None,
    tool_type: str = "function",
    framework: str = "function",
) -> Callable[[F], F]: ...


def audited_tool(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    resource: ResourceSpec = None,
    scopes: Iterable[str] = (),
    trust: str | None = None,
    tool_type: str = "function",
    framework: str = "function",
) -> F | Callable[[F], F]:
    """Audit every call of a tool function: one ``execute_tool {name}`` span per call.

    ``name`` defaults to the function's name. ``resource`` names the resource(s) a call
    touches: an argument name, a ``str.format`` template over the arguments
    (``"calendar:{event_id}"``) or a callable from the arguments dict to id(s).
    ``scopes`` are the scopes the tool needs (seen by ``before_tool_call`` hooks).
    ``trust`` is the trust of its results as sources (default ``untrusted``).
    """
    if trust is not None and trust not in TRUST_LEVELS:
        raise ValueError(f"agentaudit: trust {trust!r} is not one of {sorted(TRUST_LEVELS)}")
    scope_list = tuple(scopes.split() if isinstance(scopes, str) else scopes)

    def decorate(target: F) -> F:
        if not callable(target):
            raise TypeError(f"audited_tool decorates a function, got {target!r}")
        spec = ToolSpec(
            name or str(getattr(target, "__name__", "tool")),
            framework,
            tool_type,
            resource,
            scope_list,
            trust,
        )
        return _wrap(target, spec)

    if func is not None:
        return decorate(func)
    return decorate
