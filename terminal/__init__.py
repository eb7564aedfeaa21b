"""The terminal front end: the console, the quiz and the moderators' review queue."""
