"""The Chirp application: app factory, command line, and the small pieces every layer shares."""
