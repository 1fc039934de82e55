"""`python -m kashif ...` is the `kashif` command."""
import sys

from kashif.cli import main

sys.exit(main())
