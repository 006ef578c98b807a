"""PostgreSQL: models, migrations, repositories, sessions and the embedded default."""
