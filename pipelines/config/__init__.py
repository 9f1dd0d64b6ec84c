"""What a run is told: accounts, settings, run options and the sources chatfunnel knows."""
