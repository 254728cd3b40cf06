"""Bulk-sender preflight: each rule the big receivers publish, checked before a campaign."""
