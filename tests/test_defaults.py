"""A step's argparse defaults equal the config schema's defaults for the same hyper-parameters.

A hyper-parameter is written in the schema (with the default a study gets when its config is
silent) and in the step's parser (with the default a user gets running the step alone). The two
defaults must agree, or ``python -m abgd.<step>`` would quietly train another model than the
workflow; this test reads both and compares them, key by key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())

#: Schema keys a section passes to its step, other than workflow switches and layout.
SECTIONS = {
    "single": ("abgd.train_single", set()),
    "fusion": ("abgd.train_fusion", set()),
    "multitask": ("abgd.train_multitask", {"enabled"}),
    "lgbm": ("abgd.train_lgbm", {"systems", "chunks"}),
    "split": ("abgd.split", {"source", "scope", "files", "seed"}),
}


def schema_defaults(section: str) -> dict[str, object]:
    properties = SCHEMA["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def parser_of(module: str) -> argparse.ArgumentParser:
    import importlib

    return importlib.import_module(module).build_parser()


def parsed_default(parser: argparse.ArgumentParser, dest: str) -> object:
    """The value a step sees when the flag is absent (``type`` applied to string defaults)."""
    action = next((a for a in parser._actions if a.dest == dest), None)
    assert action is not None, f"the parser has no --{dest.replace('_', '-')}"
    value = action.default
    if isinstance(value, str) and action.type is not None:
        value = action.type(value)
    return value


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_step_defaults_equal_the_schema_defaults(section):
    module, skipped = SECTIONS[section]
    parser = parser_of(module)
    expected = {k: v for k, v in schema_defaults(section).items() if k not in skipped}
    assert expected, section
    actual = {}
    for key, value in expected.items():
        default = parsed_default(parser, key)
        if key == "branch_activations":  # a comma list in the config, a list in the parser
            value = value.split(",")
        actual[key] = default
        expected[key] = value
    assert actual == expected


def test_a_changed_default_is_seen():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    assert parsed_default(parser, "lr") != SCHEMA["properties"]["single"]["properties"]["lr"][
        "default"]


# ---------------------------------------------------------------- what the rules pass


def rule_flags() -> list[tuple[str, str, str, list[str]]]:
    """(rule, step, section, keys) for every ``section_flags(...)`` a rule passes its step."""
    import ast
    import re

    from abgd.configuration import section_keys
    from abgd.flags import section_flags

    found = []
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for rule, body in re.findall(r"(?ms)^rule (\w+):\n(.*?)(?=^\S|\Z)", path.read_text()):
            calls = re.findall(r"section_flags\(.*?\)", body)
            if not calls:
                continue
            step = re.search(r"-m abgd\.(\w+)", body).group(1)
            for text in calls:
                call = ast.parse(text, mode="eval").body
                section = ast.literal_eval(call.args[0])
                options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                keys = section_keys(SCHEMA, section)
                values = {key: f"<{key}>" for key in keys}  # every key present, as one word
                passed = section_flags(values, keys, **options).split()
                found.append((rule, step, section, [w[2:].replace("-", "_") for w in passed
                                                    if w.startswith("--")]))
    return found


RULE_FLAGS = rule_flags()


def test_the_rules_pass_config_sections_as_flags():
    sections = {section for _, _, section, _ in RULE_FLAGS}
    assert {"single", "fusion", "multitask", "lgbm", "split", "demo", "tag"} <= sections


@pytest.mark.parametrize(("rule", "step", "section", "keys"), RULE_FLAGS,
                         ids=[f"{rule}-{section}" for rule, _, section, _ in RULE_FLAGS])
def test_every_key_a_rule_passes_is_an_option_of_its_step_with_the_schemas_default(
        rule, step, section, keys):
    """The step alone (``python -m abgd.<step>``) does what the workflow does with defaults."""
    parser = parser_of(f"abgd.{step}")
    options = {o: a for a in parser._actions for o in a.option_strings}
    defaults = schema_defaults(section)
    for key in keys:
        action = options.get(f"--{key.replace('_', '-')}")
        assert action is not None, f"rule {rule}: abgd.{step} has no --{key.replace('_', '-')}"
        assert action.dest == key, (rule, key)
        if action.required:  # no default to disagree with: the step must be told
            continue
        default = parsed_default(parser, key)
        expected = defaults[key]
        if key == "branch_activations":  # a comma list in the config, a list in the parser
            expected = expected.split(",")
        assert default == expected, f"rule {rule}: abgd.{step} --{key} default {default!r}"
