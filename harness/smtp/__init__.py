"""SMTP pieces shared by verify and bench: TLS contexts, messages with tokens, raw dialogues."""
