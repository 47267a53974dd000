"""VillageGrid 村网格: grid management for villages and townships."""
from pathlib import Path

# The release's version: `make dist` names the file after it, `villagegrid version` prints it.
__version__ = "1.0.0"
ROOT = Path(__file__).resolve().parent.parent  # templates/, static/, migrations/, data/ (the bundle in the release)


def create_app(config=None):
    """Build the application (``app/factory.py``). ``config`` (a mapping) overrides everything else."""
    # late import: start-up time (every module of app/ imports this package first; the areas, WeasyPrint
    # and the rest load only when an application is made)
    from .factory import create_app as build

    return build(config)
