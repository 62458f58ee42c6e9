"""Sub-commands of the `mirv` CLI; each module here registers one (see `MIRVLib.cli`)."""
