"""The installed-distribution questions a warm run answers without importing
``importlib.metadata`` agree with ``importlib.metadata``."""

from __future__ import annotations

from importlib.metadata import distributions, entry_points, version

from asyncmend.codemods.installed import may_declare_entry_points, version_of


def test_version_is_importlib_metadata_s() -> None:
    assert version_of("asyncmend") in (None, version("asyncmend"))
    assert version_of("no-such-distribution-here") is None


def test_no_group_importlib_metadata_finds_is_missed() -> None:
    groups = {entry.group for dist in distributions() for entry in dist.entry_points}
    for group in groups:
        assert may_declare_entry_points(group) in (None, True), group
    assert may_declare_entry_points("asyncmend.no-such-group") in (None, False)
    assert bool(entry_points(group="asyncmend.no-such-group")) is False
