"""The layers of the app (README, Design) hold: checked by import-linter with the contract in
.importlinter, which names every area, so a new area fails here until it is placed."""
import ast
import configparser
import io
from contextlib import redirect_stdout
from pathlib import Path

from importlinter import cli

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def _layers():
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    lines = parser["importlinter:contract:layers"]["layers"].split("\n")
    # "|" joins areas that do not import each other, ":" areas that may.
    return [name.strip() for line in lines for name in line.replace(":", "|").split("|") if name.strip()]


def _top_level_modules():
    """app.<name> for every package and module directly under app/."""
    names = set()
    for path in (ROOT / "app").iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(f"app.{path.name}")
        elif path.suffix == ".py" and path.stem != "__init__":
            names.add(f"app.{path.stem}")
    return names


def test_every_area_is_placed_in_a_layer():
    """A new package under app/ must be given its place in the layers before anything else."""
    missing = sorted(_top_level_modules() - set(_layers()))
    assert not missing, (
        f"{', '.join(missing)} not placed in the layers. Add each to one line of `layers` in .importlinter "
        "(a line imports only from the lines below it; areas joined by | on one line do not import each other, "
        "by : they may) "
        "and to the layers in the README's Design section.")


def test_imports_follow_the_layers():
    """import-linter's contract: areas import only downward, core imports no area."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.lint_imports(config_filename=str(CONFIG), no_cache=True)
    assert code == 0, out.getvalue()


LATE_IMPORT = "# late import: "
LATE_IMPORTS_ALLOWED = 5


def _late_imports():
    """(path, line, source with the comment lines right above it) of every import inside a function under app/."""
    found = set()
    for path in sorted((ROOT / "app").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        start = node.lineno - 1
                        while start > 0 and lines[start - 1].strip().startswith("#"):
                            start -= 1
                        source = "\n".join(lines[start:node.end_lineno])
                        found.add((path.relative_to(ROOT).as_posix(), node.lineno, source))
    return sorted(found)


def test_imports_inside_functions_are_few_and_say_why():
    """Imports stand at the top of their module. One inside a function (to break a cycle, or measured
    to shorten the start-up) says why with LATE_IMPORT on its line or right above it; at most five."""
    late = _late_imports()
    unexplained = [f"{p}:{n}: {src.strip()}" for p, n, src in late if LATE_IMPORT not in src]
    assert not unexplained, "move these imports to the top of their module (or say why not):\n" + "\n".join(unexplained)
    assert len(late) <= LATE_IMPORTS_ALLOWED, f"{len(late)} late imports (at most {LATE_IMPORTS_ALLOWED}): " + \
        "\n".join(f"{p}:{n}" for p, n, _ in late)
