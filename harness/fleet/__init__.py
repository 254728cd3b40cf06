"""Fleet scenarios: load through every MX while the fleet is updated or loses a host."""
