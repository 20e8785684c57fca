"""The provider protocol: what the core needs from a platform.

The offline half (`check`) runs during `validate`; the online half talks to the platform's REST
API through an httpx client built by reconciler.http.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target


class ProviderClass(Protocol):
    """The class side of a provider: registered under the `schedctl.providers` entry points."""

    name: ClassVar[str]

    @classmethod
    def check(
        cls, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        """Offline: what this platform cannot express or will treat differently."""
        ...
