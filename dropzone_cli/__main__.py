import sys

from dropzone_cli import main

sys.exit(main())
