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


# Imports inside a function, allowed only where a module-level import would make a cycle;
# each says why in a comment on its line ("# cycle: …").
MAX_INNER_IMPORTS = 5


def _inner_imports():
    """(file, line, text) of every import of an app module inside a function, but the factory's blueprints."""
    found = set()
    for path in sorted((ROOT / "app").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for fn in ast.walk(ast.parse(source)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if path == ROOT / "app" / "__init__.py" and fn.name == "create_app":
                continue  # the application factory imports the areas it registers (Flask's pattern)
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("app")):
                    found.add((str(path.relative_to(ROOT)), node.lineno, lines[node.lineno - 1]))
    return sorted(found)


def test_imports_inside_functions_are_few_and_explained():
    """An import inside a function hides a dependency; the few that break a cycle say so."""
    found = _inner_imports()
    assert len(found) <= MAX_INNER_IMPORTS, f"{len(found)} imports inside functions: {[f[:2] for f in found]}"
    unexplained = [f"{path}:{line}" for path, line, text in found if "# cycle:" not in text]
    assert not unexplained, f"move these to the top of their module, or say why not with '# cycle: …': {unexplained}"
