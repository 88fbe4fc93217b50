"""The coordinator's persistent state: SQLModel tables and the store on SQLite or PostgreSQL."""
