"""SCIM 2.0 provisioning at /scim/v2 (R29, R30, D27, D28, D34): one more entry point calling the
same use cases as GraphQL (`services.directory`, `services.groups`)."""
