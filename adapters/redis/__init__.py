"""Redis: live events shared by every instance."""
