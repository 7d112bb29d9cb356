"""``python -m anotrans``: the CLI, also as ``torchrun --nproc-per-node N -m anotrans train ...``."""

from anotrans.console import main

main()
