"""nchat's benchmark harness (`python -m bench <scenario>`). Never imported by src/."""
