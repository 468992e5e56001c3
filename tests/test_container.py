"""The dependency container."""

from __future__ import annotations

import pytest

from loomwork.container import Container
from loomwork.errors import NotFoundError


def test_register_and_resolve_values_and_factories() -> None:
    container = Container({"logger": "the-logger"})
    built: list[Container] = []

    def factory(owner: Container) -> str:
        built.append(owner)
        return "brand-service"

    container.register_factory("brand", factory)
    assert container.resolve("logger") == "the-logger"
    assert container.resolve("brand") == "brand-service"
    assert container.resolve("brand") == "brand-service"
    assert built == [container]  # built once, with the container
    assert "brand" in container
    assert sorted(container.keys()) == ["brand", "logger"]


def test_missing_key_names_the_key_and_what_is_registered() -> None:
    container = Container({"logger": object(), "brand": object()})
    with pytest.raises(NotFoundError) as caught:
        container.resolve("brnad")
    message = str(caught.value)
    assert "'brnad'" in message
    assert "brand, logger" in message
    assert container.resolve("brnad", None) is None


def test_register_replaces_an_earlier_factory() -> None:
    container = Container()
    container.register_factory("x", lambda _: "from factory")
    container.register("x", "value")
    assert container.resolve("x") == "value"
