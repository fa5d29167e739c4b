import sys

from miakit.cli.main import main

sys.exit(main())
