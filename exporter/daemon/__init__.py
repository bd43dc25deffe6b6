"""The long-running side: scheduler, reload, state file, watched files."""
