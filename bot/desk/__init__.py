"""The admins' knowledge desk: coverage gaps (``gaps``), the review queue, harvesting answered questions
from a channel's history, and the weekly digest. No ``discord`` import: the cog and the ``qabot`` commands
format what these modules find."""
