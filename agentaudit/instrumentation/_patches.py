"""Methods and module functions replaced by wrappers, and exactly those put back.

Every framework integration that patches code keeps its originals in a :class:`Patches`.
Invariants: :meth:`Patches.wrap` replaces the attribute as stored on its owner (the raw
class or module ``__dict__`` entry when there is one, so static and class methods keep
their descriptor) and remembers it; :meth:`Patches.restore` puts every original back,
in the reverse order.
Callers resolve all their targets before wrapping any, so an integration is never half
installed, and hold their own lock around both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Patches"]


class Patches:
    """The originals of the attributes one integration replaced."""

    def __init__(self) -> None:
        self._originals: list[tuple[Any, str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._originals)

    def wrap(self, owner: Any, name: str, factory: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` with ``factory(original)``."""
        stored = vars(owner)
        original = stored[name] if name in stored else getattr(owner, name)
        setattr(owner, name, factory(original))
        self._originals.append((owner, name, original))

    def restore(self) -> None:
        """Put every original back, the last replaced first."""
        while self._originals:
            owner, name, original = self._originals.pop()
            setattr(owner, name, original)
