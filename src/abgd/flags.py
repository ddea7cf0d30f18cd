"""A config section's values as the command-line flags of the step that takes them (library).

A hyper-parameter is named once, in the config schema: the rule hands its section to
``section_flags``, which writes ``key_name: value`` as ``--key-name value``, so neither the rule's
``params:`` nor its ``shell:`` lists the keys again. The result is one plain string, so Snakemake's
params tracking still reruns exactly the jobs whose flags changed. The keys come in the schema's
order (not the config file's), so the same values always give the same command line, whatever
order a config file or ``--config`` wrote them in.

Values are rendered in the form argparse reads: a string or a number as one shell-quoted word,
a list as one word per item (``nargs="+"``), ``True`` as the bare flag (``store_true``); ``False``,
``None`` and an empty list leave the flag out, so the step's own default applies. Standard library
only: ``workflow/rules/common.smk`` imports it before any dependency is known to be installed.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping


def flag_name(key: str) -> str:
    """``holdout_fraction`` -> ``--holdout-fraction`` (argparse's ``dest`` spelled back)."""
    return "--" + key.replace("_", "-")


def _word(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"{where}: cannot pass a {type(value).__name__} as a flag value")
    return shlex.quote(str(value))


def render(key: str, value: object) -> list[str]:
    """The words of one key's flag; empty when the step's default should apply."""
    if value is None or value is False:
        return []
    if value is True:
        return [flag_name(key)]
    if isinstance(value, list | tuple):
        return [flag_name(key), *(_word(item, key) for item in value)] if value else []
    return [flag_name(key), _word(value, key)]


def section_flags(values: Mapping[str, object], keys: Iterable[str],
                  include: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> str:
    """The flags of ``values`` for ``keys`` (the schema's keys, in its order), one string.

    ``include`` keeps only the named keys, ``exclude`` drops some (workflow switches, or values
    a rule passes in another form); both must name keys of ``keys``, so a typo fails at once.
    A key absent from ``values`` is left out.
    """
    keys = list(keys)
    chosen = set(keys if include is None else include)
    dropped = set(exclude)
    unknown = sorted((chosen | dropped) - set(keys))
    if unknown:
        raise KeyError(f"not keys of this section: {', '.join(unknown)}")
    words: list[str] = []
    for key in keys:
        if key in chosen and key not in dropped and key in values:
            words += render(key, values[key])
    return " ".join(words)
