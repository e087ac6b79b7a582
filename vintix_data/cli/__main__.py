"""``python -m vintix_data.cli``."""

from vintix_data.cli.app import main

main()
