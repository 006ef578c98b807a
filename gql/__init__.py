"""The GraphQL surface and the process around it: types, loaders, permissions, app, CLI."""
