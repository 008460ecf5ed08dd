"""``--image=PATH`` in the terminal chat, run as a user runs it (``python generate.py --cli=True``)."""

from __future__ import annotations

from h2ogpt.vision.reading import not_seen_note
from support.fake_vision import text_png
from support.processes import run_generate

NO_VIOLATIONS = "NETGUARD-VIOLATIONS: 0 []"


def test_an_image_of_text_is_answered_from_its_ocr_text(tmp_path, data_dir, converted_model_dir):
    picture = tmp_path / "invoice.png"
    picture.write_bytes(text_png(["INVOICE 4821", "TOTAL 93 EUR"]))
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--max_new_tokens=16",
        "--prompt=What is the invoice number?",
        f"--image={picture}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(not_seen_note(1))  # the answer says the image was not seen
    assert "[the image not seen: no vision model is configured; its text was read by OCR" in result.stderr
    assert NO_VIOLATIONS in result.stderr


def test_bad_image_paths_are_one_line_and_exit_2(tmp_path, data_dir):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    for flag, fragment in (
        (f"--image={tmp_path / 'missing.png'}", "missing.png: no such file"),
        (f"--image={notes}", "notes.png: not an image"),
    ):
        result = run_generate("--cli=True", "--cli_loop=False", "--prompt=hi", flag, data_dir=data_dir)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and fragment in errors[0] and "Traceback" not in result.stderr
