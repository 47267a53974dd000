"""The README names every operator command with an example of its use."""
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BUILT_IN = {"run", "shell", "routes"}  # Flask's own


def _commands(group, prefix=""):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group) and name != "db":
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_operator_command_has_an_example_in_the_readme(app):
    names = [n for n in _commands(app.cli) if n not in BUILT_IN]
    assert "import-divisions" in names and "cases urge-overdue" in names
    section = README.split("## Operator commands", 1)[1].split("\n## ", 1)[0]
    for name in names:
        shown = "db upgrade" if name == "db" else name
        assert f"| `{shown}" in section, f"{name}: no row in the README's operator commands"
        assert f"`flask --app wsgi {shown}" in section, f"{name}: no example in the README"
