"""The system-name grammar shared by the workflow and the summary."""

from __future__ import annotations

import pytest

from abgd import systems

BASES = ["single", "fusion", "multitask", "logreg", "random", "popularity"]


def test_parse_names_base_variants_and_seed() -> None:
    parsed = systems.parse_system("logreg-global-consistent-seed3", BASES, [7, 3])
    assert parsed == {"base": "logreg", "decoding": "global", "hierarchy": "consistent",
                      "seed": 3, "trained": "logreg-seed3",
                      "reported": "logreg-global-consistent"}
    assert systems.parse_system("multitask", BASES, [7])["trained"] == "multitask"
    with pytest.raises(ValueError, match="not a system name"):
        systems.parse_system("lgbm_single", BASES, [7])  # not configured here


def test_reported_systems_cover_every_variant_once() -> None:
    names = systems.reported_systems(["single", "logreg"], [1, 2], ["per_label", "global"],
                                     ["none"])
    assert names == ["random", "popularity", "single", "single-global", "logreg",
                     "logreg-global", "random-seed2", "single-seed2", "single-global-seed2",
                     "logreg-seed2", "logreg-global-seed2"]
    for name in names:  # every reported name parses back to itself
        assert systems.parse_system(name, BASES, [1, 2])["reported"] == name.split("-seed")[0]


@pytest.mark.parametrize("name", ["single", "random", "my-system", "Logreg", "2fast", "union"])
def test_plugin_names_that_would_clash_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=repr(name)):
        systems.check_plugin_name(name)


def test_alternation_of_nothing_matches_nothing() -> None:
    assert systems.system_regex([]).match("single") is None
    assert systems.split_system("logreg-global-consistent") == ("logreg", ("global",
                                                                            "consistent"))
