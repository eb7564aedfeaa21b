"""quantutor's core: everything that runs without Discord."""
