"""The soak: a long open-loop load at a share of the measured peak, reported per window."""
