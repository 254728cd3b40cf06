"""DKIM keys over their life: rotation steps (publish, activate, revoke) as code."""
