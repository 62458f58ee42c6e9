import sys

from MIRVLib.cli import main

sys.exit(main())
