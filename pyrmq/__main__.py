"""``python -m pyrmq`` = the ``pyrmq`` command."""

from pyrmq.cli.main import main

raise SystemExit(main())
