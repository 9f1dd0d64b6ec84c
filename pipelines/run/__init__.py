"""What a run is: the driver and its steps, stopping, outcomes, fleets of accounts, run history."""
