"""`python -m mass_mailer.google_emulator`: run the emulator in the foreground."""

import sys

from mass_mailer.google_emulator.server import main

sys.exit(main())
