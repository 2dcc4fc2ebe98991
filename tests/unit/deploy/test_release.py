"""The version lives in pyproject.toml: `phishbot --version` reads it from the installed package, the changelog's
newest entry names it, and no product module spells it out."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[3]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_phishbot_version_prints_the_version_of_pyproject(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"phishbot {VERSION}\n"


def test_the_changelogs_newest_entry_is_this_version():
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings and headings[0] == VERSION


def test_no_product_module_spells_the_version_out():
    literal = re.compile(rf"""["']{re.escape(VERSION)}["']""")
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        assert not literal.search(path.read_text()), path
