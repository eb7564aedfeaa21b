"""One cog per area: answers, the quiz, the moderators' review queue, administration."""
