"""``python -m vintix_model.cli``."""

from vintix_model.cli.app import main

main()
