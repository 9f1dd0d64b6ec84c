"""Where the data lands: destinations, locks, the BI snapshot, the lake, migrations, grants."""
