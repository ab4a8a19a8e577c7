"""Experiments behind the lecture's claims (run as modules; each has a `main()`)."""
