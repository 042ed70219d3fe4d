"""Herald's benchmark suite: a feed farm, a rate-limited fake Discord, and the peer ``reader``."""
