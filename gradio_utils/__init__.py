"""The browser UI (a face): renders pipeline events, calls the core for everything else."""

import h2ogpt  # noqa: F401  (sets the offline environment, Gradio's analytics off, before gradio loads)
