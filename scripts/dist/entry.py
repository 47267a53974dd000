"""The one-file release's entry script (PyInstaller starts here): app/dist_main.py does the work."""
from app.dist_main import main

main()
