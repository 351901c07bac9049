"""Allows ``python -m voice``, the same as the ``voice`` console script."""

from voice.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
