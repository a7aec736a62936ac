"""``python -m rnnkit`` (and ``torchrun -m rnnkit``) run the command line."""

from rnnkit.cli import main

if __name__ == "__main__":
    main()
