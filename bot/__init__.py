"""The Discord front end: cogs that turn interactions into calls on the tutor service."""
