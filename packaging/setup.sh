#!/usr/bin/env bash
# Kept for old instructions: the setup is packaging/setup.py (the same on Linux, macOS, Windows).
exec "${PYTHON:-python3}" "$(dirname "$0")/setup.py" "$@"
