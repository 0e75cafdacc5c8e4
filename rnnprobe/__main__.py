"""``python -m rnnprobe``: the same as the ``rnnprobe`` command."""

from rnnprobe.cli import main

if __name__ == "__main__":
    main(prog_name="rnnprobe")
