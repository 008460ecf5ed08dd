"""Images in a question: validation (Pillow), limits, and who looks at them (a vision backend,
a separate vision model, or OCR). See docs/vision.md."""
