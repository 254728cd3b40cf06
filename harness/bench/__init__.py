"""`mailstack bench`: bulk-send throughput, latency and delivery, before a campaign."""
