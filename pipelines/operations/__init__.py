"""What an operator reads: status, diagnosis, alerts and the dashboard."""
