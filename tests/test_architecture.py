"""The import rules of docs/architecture.md, enforced: the real tree keeps them, and each
rule catches a deliberate violation planted in a copy of the tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "bot", "terminal", "tutor", "quiz", "knowledge")
BIN = Path(sys.executable).parent


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "lint-imports", "--no-cache"], cwd=tree, capture_output=True, text=True
    )


def ruff_banned_api(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "ruff", "check", "--no-cache", "--select", "TID251", "."],
        cwd=tree,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_import_rule():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout
    assert "0 broken" in done.stdout
    banned = ruff_banned_api(ROOT)
    assert banned.returncode == 0, banned.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("tutor/verify.py", "import bot.render", "One direction"),
        ("tutor/service.py", "import terminal.console", "One direction"),
        ("knowledge/index.py", "import tutor.answer", "One direction"),
        ("bot/render.py", "import terminal.review", "One direction"),
        ("quiz/engine.py", "import discord", "discord only in the Discord front end"),
        ("cli/main.py", "from discord import Intents", "discord only in the Discord front end"),
        ("knowledge/index.py", "import sqlite3", "SQL drivers only in the storage module"),
        ("bot/cogs/ask.py", "import psycopg", "SQL drivers only in the storage module"),
    ],
)
def test_each_import_rule_catches_a_violation(tree, module, line, contract):
    plant(tree, module, line)
    done = lint_imports(tree)
    assert done.returncode == 1
    assert f"{contract}" in done.stdout
    broken = [row for row in done.stdout.splitlines() if " BROKEN" in row]
    assert len(broken) == 1 and broken[0].startswith(contract), done.stdout


@pytest.mark.parametrize(
    "line", ["import bitsandbytes", "from transformers import BitsAndBytesConfig"]
)
def test_bitsandbytes_outside_the_transformers_runtime_is_refused(tree, line):
    plant(tree, "tutor/service.py", line)
    done = ruff_banned_api(tree)
    assert done.returncode == 1
    assert "only tutor/runtime/transformers.py uses bitsandbytes" in done.stdout
