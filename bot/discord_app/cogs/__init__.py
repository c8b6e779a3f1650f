"""Discord extensions, one per area (asking, feedback, admin); each ends with ``async def setup(bot)``."""
