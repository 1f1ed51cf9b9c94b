"""Entry point of the PyInstaller bundle (packaging/build_bundle.py): the same `ftstudio`
command as the pip install — no arguments opens the window, `train --demo` runs headless."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from ftstudio.__main__ import main

    sys.exit(main())
