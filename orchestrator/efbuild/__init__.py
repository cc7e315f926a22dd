"""efbuild: cross-compilation orchestrator and base-binary farm for encoderfile."""

__version__ = "0.1.0"
