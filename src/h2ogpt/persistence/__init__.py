"""Saved chats and the UI's user accounts: what the app keeps for its users (SQLite files under
``--data_dir``), each behind a small class the faces call."""
