"""The one-file release's entry script (PyInstaller starts here): app/dist_main.py does the work.

The cyclic garbage collector is off while the program loads (the start-up makes some 250,000
objects and no garbage worth a collection; its passes cost about a tenth of a second of CPU);
dist_main turns it back on, with what was loaded frozen out of later passes, before serving or
running a command."""
import gc

gc.disable()

from app.dist_main import main  # noqa: E402

main()
