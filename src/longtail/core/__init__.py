"""Pure domain logic: no I/O, no web framework, no database driver, no CLI library."""
