"""NATS security: identities with permissions, their credentials, the server's trust config."""
