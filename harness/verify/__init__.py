"""`mailstack verify`: the delivery and security suite, run against any inventory."""
