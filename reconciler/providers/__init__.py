"""Platform providers, found through the `schedctl.providers` entry-point group.

A third-party package registers `myplatform = "pkg.module:MyProvider"` under that group and
`platform: myplatform` targets work with no change to the core.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, cast

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClass

GROUP = "schedctl.providers"


@cache
def available() -> dict[str, str]:
    """Platform name -> 'module:attr' of every installed provider."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


@cache
def provider_class(platform: str) -> ProviderClass:
    for ep in entry_points(group=GROUP, name=platform):
        return cast("ProviderClass", ep.load())
    from reconciler.explain import hint

    known = ", ".join(sorted(available())) or "none installed"
    raise ConfigError(
        f"unknown platform {platform!r}"
        + hint(platform, available(), f"installed providers: {known}")
    )
