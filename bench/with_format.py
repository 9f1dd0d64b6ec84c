"""`python -m bench.with_format FORMAT <chatfunnel arguments>`: `chatfunnel` with another load
file format, to compare formats on the same run (the CLI has no such option: the format is
chosen per destination in `pipelines.warehouse.account_pipeline.loader_file_format`)."""

from __future__ import annotations

import sys
from typing import cast

from dlt.common.destination import TLoaderFileFormat

from pipelines.cli import main
from pipelines.run import lifecycle

if __name__ == "__main__":
    chosen = cast(TLoaderFileFormat, sys.argv[1])

    def loader_file_format(destination: str) -> TLoaderFileFormat | None:
        return chosen

    lifecycle.loader_file_format = loader_file_format
    sys.exit(main(sys.argv[2:]))
