"""A config section becomes the flags argparse reads back as the same values."""

from __future__ import annotations

import argparse
import shlex

import pytest

from abgd.flags import flag_name, render, section_flags

KEYS = ["architecture", "hidden", "lr", "branch_activations", "names", "models", "note", "off"]


def test_key_names_become_dashed_flags():
    assert flag_name("holdout_fraction") == "--holdout-fraction"
    assert flag_name("lr") == "--lr"


@pytest.mark.parametrize(("key", "value", "words"), [
    ("lr", 0.001, ["--lr", "0.001"]),
    ("hidden", 256, ["--hidden", "256"]),
    ("lr", 1e-05, ["--lr", "1e-05"]),
    ("models", True, ["--models"]),               # store_true
    ("models", False, []),                        # the step's default (off)
    ("seed", None, []),                           # the step's default
    ("names", ["a", "b c"], ["--names", "a", "'b c'"]),
    ("names", [], []),                            # nargs="+" cannot take none
    ("note", "it's here", ["--note", "'it'\"'\"'s here'"]),
    ("note", "$(rm -rf x)", ["--note", "'$(rm -rf x)'"]),
])
def test_values_render_in_the_form_argparse_reads(key, value, words):
    assert render(key, value) == words


@pytest.mark.parametrize("value", [{"a": 1}, [{"a": 1}], [True]])
def test_values_without_a_flag_form_are_refused(value):
    with pytest.raises(TypeError, match="names"):
        render("names", value)


def test_a_section_round_trips_through_argparse():
    values = {"off": None, "lr": 0.002, "note": "two words; $HOME", "models": True,
              "names": ["x", "y z"], "architecture": "wide", "hidden": 7}
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture")
    parser.add_argument("--hidden", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--names", nargs="+")
    parser.add_argument("--models", action="store_true")
    parser.add_argument("--note")
    parser.add_argument("--off", default="kept")
    args = parser.parse_args(shlex.split(section_flags(values, KEYS)))
    assert vars(args) == {**values, "off": "kept"}


def test_keys_come_in_the_schemas_order_whatever_the_configs():
    values = {"lr": 0.1, "hidden": 3, "architecture": "paper"}
    assert section_flags(values, KEYS) == "--architecture paper --hidden 3 --lr 0.1"


def test_include_and_exclude_choose_keys_and_absent_values_are_left_out():
    values = {"lr": 0.1, "hidden": 3}
    assert section_flags(values, KEYS, include=["lr", "architecture"]) == "--lr 0.1"
    assert section_flags(values, KEYS, exclude=["lr"]) == "--hidden 3"
    assert section_flags({}, KEYS) == ""


def test_a_misspelt_key_fails_at_once():
    with pytest.raises(KeyError, match="hiden"):
        section_flags({"hidden": 3}, KEYS, include=["hiden"])
    with pytest.raises(KeyError, match="seeds"):
        section_flags({"hidden": 3}, KEYS, exclude=["seeds"])
