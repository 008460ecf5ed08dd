"""The command-line faces: flags and environment variables -> Settings (``flags``), what every
entry shares (``entry``: --help, logging, exit codes) and the terminal chat (``terminal``)."""
