"""``python -m anotrans``: the CLI, also as ``torchrun --nproc-per-node N -m anotrans train ...``."""

from anotrans.cli import main

main()
