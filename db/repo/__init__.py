"""Repositories: all SQL lives here. Functions take a connection and the tenant id first."""
