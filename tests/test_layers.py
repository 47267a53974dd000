"""The layers of the app (README, Design) hold: checked by import-linter with the contract in
.importlinter, which names every area, so a new area fails here until it is placed."""
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


LATE_IMPORT = "# late import: start-up time"
LATE_IMPORTS_ALLOWED = 5


def test_few_imports_are_put_off_for_the_start_up():
    """Imports belong at the top of a module; one moved into a function to shorten the start-up must
    have been measured and say so with LATE_IMPORT on its line, and there are at most five."""
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "app").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if LATE_IMPORT in line]
    assert len(found) <= LATE_IMPORTS_ALLOWED, f"{len(found)} late imports (at most {LATE_IMPORTS_ALLOWED}): {found}"
