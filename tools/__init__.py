"""Developer tools: local runner, stub generation."""
