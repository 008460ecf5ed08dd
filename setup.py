"""Packaging for h2oGPT: the core package, the thin entries and their console scripts."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent


def requirements(name: str) -> list[str]:
    lines = (here / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="h2ogpt",
    version=(here / "version.txt").read_text().strip(),
    description="Private, offline LLM chat and document QA",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    # the core lives in src/; the faces (openai_server/, gradio_utils/, generate.py, finetune.py) at the top
    package_dir={"": ".", "h2ogpt": "src/h2ogpt"},
    packages=[
        *find_packages("src"),
        *find_packages(include=["openai_server", "openai_server.*", "gradio_utils", "gradio_utils.*"]),
    ],
    py_modules=["generate", "finetune", "make_db"],
    # the model presets (catalogue data), found there by h2ogpt.backends.presets when installed
    data_files=[
        ("share/h2ogpt/models", [str(p.relative_to(here)) for p in sorted((here / "models").glob("*"))])
    ],
    install_requires=requirements("requirements.txt"),
    extras_require={
        "gpu": requirements("reqs_optional/requirements_optional_gpu.txt"),
        "dev": requirements("reqs_optional/requirements_optional_dev.txt"),
    },
    entry_points={
        "console_scripts": [
            "h2ogpt_generate=generate:entrypoint_main",
            "h2ogpt_finetune=finetune:entrypoint_main",
            "h2ogpt_server=openai_server.server:entrypoint_main",
            "h2ogpt_make_db=make_db:entrypoint_main",
        ]
    },
)
